"""What the suite's servers need configured beyond the defaults."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["REPO", "suite_config"]

REPO = Path(__file__).resolve().parents[1]
"""The repository's root, where the suite's plugin modules (`tests.*`) import from."""


def suite_config(*model_roots: Path, executables: Sequence[Path] = ()) -> dict[str, Any]:
    """A server configuration for the suite: its test plugins (modules under `tests`, and
    `executables`) may be registered, and models read from `model_roots` (typically the test's
    temporary folder)."""
    return {
        "model_roots": [str(root) for root in model_roots],
        "plugin_modules": ["tests.*"],
        "plugin_executables": [str(path) for path in executables],
        # The generated SMI code and the bundled plugins of this checkout, not an install's.
        "plugin_python_path": [str(REPO), str(REPO / "generated"), str(REPO / "plugins")],
    }
