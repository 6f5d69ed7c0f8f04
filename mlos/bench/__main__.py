"""`python -m mlos.bench` — the same as `mlos bench`."""

import sys

from mlos.bench.runner import main

sys.exit(main())
