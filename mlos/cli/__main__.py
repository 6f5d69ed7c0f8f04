"""`python -m mlos.cli ...` runs the `mlos` command."""

import sys

from mlos.cli.main import main

sys.exit(main())
