"""Axon: the MLOS model package manager.

The library is the product; ``axon.cli`` is a thin command line over it. Entry points:
:mod:`axon.validation` (check a manifest), :mod:`axon.package` and :mod:`axon.extraction` (pack
and safely extract ``.axon`` archives), :mod:`axon.registry_client` /
:mod:`axon.registry_server` (the registry protocol), :mod:`axon.cache` and
:mod:`axon.cleanup` (the verified content-addressed cache and what deletes from it),
:mod:`axon.installer`, :mod:`axon.lockfile`, :mod:`axon.signing` / :mod:`axon.keyring`, and
:mod:`axon.deploy` / :mod:`axon.local_server` (handing models to MLOS).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
