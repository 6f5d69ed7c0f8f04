"""The status table of the gRPC transport (mlos.grpc.status)."""

from __future__ import annotations

import grpc
import pytest

import mlos.grpc
from mlos.errors import StatusCode
from mlos.grpc.status import (
    CODE_METADATA_KEY,
    GRPC_STATUS,
    code_for_grpc_status,
    grpc_status_for,
)


def test_every_code_has_a_status() -> None:
    assert set(GRPC_STATUS) == set(StatusCode)
    assert grpc.StatusCode.OK not in GRPC_STATUS.values()
    assert grpc.StatusCode.UNKNOWN not in GRPC_STATUS.values()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT),
        (StatusCode.NOT_FOUND, grpc.StatusCode.NOT_FOUND),
        (StatusCode.ALREADY_EXISTS, grpc.StatusCode.ALREADY_EXISTS),
        (StatusCode.FAILED_PRECONDITION, grpc.StatusCode.FAILED_PRECONDITION),
        (StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
        (StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (StatusCode.INCOMPATIBLE_VERSION, grpc.StatusCode.FAILED_PRECONDITION),
        (StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.DEADLINE_EXCEEDED),
        (StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAUTHENTICATED),
        (StatusCode.PERMISSION_DENIED, grpc.StatusCode.PERMISSION_DENIED),
        (StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNIMPLEMENTED),
        (StatusCode.INTERNAL, grpc.StatusCode.INTERNAL),
    ],
)
def test_status_of_each_code(code: StatusCode, status: grpc.StatusCode) -> None:
    assert grpc_status_for(code) is status


@pytest.mark.parametrize("code", list(StatusCode))
def test_metadata_gives_back_the_exact_code(code: StatusCode) -> None:
    metadata = ((CODE_METADATA_KEY, code.slug),)
    assert code_for_grpc_status(grpc_status_for(code), metadata) is code


def test_code_without_metadata() -> None:
    assert code_for_grpc_status(grpc.StatusCode.NOT_FOUND) is StatusCode.NOT_FOUND
    assert code_for_grpc_status(grpc.StatusCode.FAILED_PRECONDITION) is (
        StatusCode.FAILED_PRECONDITION
    )
    assert code_for_grpc_status(grpc.StatusCode.UNKNOWN) is StatusCode.INTERNAL
    unknown_slug = ((CODE_METADATA_KEY, b"no_such_code"),)
    assert code_for_grpc_status(grpc.StatusCode.NOT_FOUND, unknown_slug) is StatusCode.NOT_FOUND


def test_public_surface() -> None:
    assert sorted(mlos.grpc.__all__) == sorted(
        [
            "GRPC_STATUS",
            "Dataplane",
            "GRPCServer",
            "GRPCSettings",
            "code_for_grpc_status",
            "create_server",
            "grpc_status_for",
        ]
    )
    for name in mlos.grpc.__all__:
        assert getattr(mlos.grpc, name) is not None
    with pytest.raises(AttributeError):
        _ = mlos.grpc.nothing_here  # type: ignore[attr-defined]
