"""`python -m mlos.sandbox --confine JSON -- PROGRAM [ARGS...]` (see mlos.sandbox.confine)."""

import sys

from mlos.sandbox.confine import main

sys.exit(main())
