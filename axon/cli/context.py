"""What every command receives: parsed options, configuration and output."""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass

from axon.cache import Cache
from axon.cli.output import Output
from axon.config import Config

__all__ = ["Context"]


@dataclass
class Context:
    """Per-invocation state; the config is read on first use."""

    args: argparse.Namespace
    output: Output

    @functools.cached_property
    def config(self) -> Config:
        """The effective configuration."""
        return Config()

    @property
    def cache(self) -> Cache:
        """The cache the configuration names."""
        return Cache(self.config.cache_dir)

    @property
    def offline(self) -> bool:
        """``--offline`` or the ``offline`` config key."""
        return bool(getattr(self.args, "offline", False)) or bool(self.config.get("offline"))
