"""The kit's public surface."""

from __future__ import annotations

import mlos_conformance


def test_public_names_exist_and_are_sorted() -> None:
    names = mlos_conformance.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(mlos_conformance, name) is not None


def test_check_names_are_unique_and_end_with_shutdown() -> None:
    names = [check.name for check in mlos_conformance.ALL_CHECKS]
    assert len(names) == len(set(names))
    assert names[-1] == "shutdown.clean"
    assert all(check.summary.endswith(".") for check in mlos_conformance.ALL_CHECKS)
