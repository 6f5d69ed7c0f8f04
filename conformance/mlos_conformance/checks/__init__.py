"""Every conformance check, in the order a run makes them.

The order matters only for speed and readability: each check loads what it needs itself, so
any subset can run alone. `shutdown.clean` ends the plugin and therefore runs last.
"""

from __future__ import annotations

from mlos_conformance.check import Check
from mlos_conformance.checks import (
    answers,
    describe,
    faults,
    inference,
    lifecycle,
    loading,
    shutdown,
    swap,
    wire,
)

__all__ = ["ALL_CHECKS"]

ALL_CHECKS: tuple[Check, ...] = (
    *describe.CHECKS,
    *faults.CHECKS,
    *loading.CHECKS,
    *inference.CHECKS,
    *answers.CHECKS,
    *wire.CHECKS,
    *lifecycle.CHECKS,
    *swap.CHECKS,
    *shutdown.CHECKS,
)
