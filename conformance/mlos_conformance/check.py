"""What a check is: a name, one sentence on what it proves, and a coroutine over the session.

A check returns a one-line reason when it passes and raises `Failed` or `Skipped` otherwise.
The runner turns any other exception (an unexpected error frame, a dropped connection, a call
without an answer) into a failure of that check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlos_conformance.session import Session

__all__ = ["Check", "Failed", "Skipped", "fail_on"]


class Failed(Exception):
    """The plugin broke the contract; the message says how."""


class Skipped(Exception):
    """The check does not apply, or cannot run; the message says why."""


def fail_on(problems: Sequence[str]) -> None:
    """Raise `Failed` naming every one of `problems`, when there are any."""
    if problems:
        raise Failed("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Check:
    """One conformance check."""

    name: str
    summary: str
    run: Callable[[Session], Awaitable[str]]
