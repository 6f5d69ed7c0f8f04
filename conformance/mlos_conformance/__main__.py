"""`python -m mlos_conformance`: see `mlos_conformance.cli`."""

import sys

from mlos_conformance.cli import main

sys.exit(main())
