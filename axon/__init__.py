"""Axon: the MLOS model package manager.

The library is the product; ``axon.cli`` is a thin command line over it. Entry points:
:mod:`axon.validation` (check a manifest), :mod:`axon.package` (pack and safely extract
``.axon`` archives), :mod:`axon.registry_client` / :mod:`axon.registry_server` (the registry
protocol), :mod:`axon.cache` (the verified content-addressed cache) and :mod:`axon.installer`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
