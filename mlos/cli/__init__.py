"""The `mlos` command line (console script `mlos = mlos.cli.main:main`)."""
