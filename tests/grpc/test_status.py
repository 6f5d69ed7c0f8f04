"""The status table of the gRPC transport (mlos.grpc.status)."""

from __future__ import annotations

import grpc
import pytest

from mlos.errors import StatusCode
from mlos.grpc.status import (
    CODE_METADATA_KEY,
    GRPC_STATUS,
    code_for_grpc_status,
    grpc_status_for,
)
from mlos.wire import status as wire_status


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



def test_the_wire_table_names_real_grpc_statuses() -> None:
    """Clients read the wire package's table by number; each number is the status's."""
    for code, status in GRPC_STATUS.items():
        assert wire_status.GRPC_STATUS[code] == status.value[0]
        assert wire_status.code_for_grpc_status(status.value[0]) is code_for_grpc_status(status)
