"""The C++ example plugin's tests use the suite-wide `cpp_plugin` fixture (tests/cpp_build.py)."""

from __future__ import annotations

from tests.cpp_build import CPP_PLUGIN, in_ci, missing_tools

__all__ = ["CPP_PLUGIN", "in_ci", "missing_tools"]
