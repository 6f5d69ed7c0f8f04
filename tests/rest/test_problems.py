"""The status table and the two error shapes."""

from __future__ import annotations

import json

import pytest

from mlos.errors import MLOSError, StatusCode
from mlos.rest import problems


def test_every_status_code_has_an_http_status() -> None:
    assert set(problems.HTTP_STATUS) == set(StatusCode)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (StatusCode.INVALID_ARGUMENT, 400),
        (StatusCode.NOT_FOUND, 404),
        (StatusCode.ALREADY_EXISTS, 409),
        (StatusCode.FAILED_PRECONDITION, 409),
        (StatusCode.UNAVAILABLE, 503),
        (StatusCode.RESOURCE_EXHAUSTED, 429),
        (StatusCode.INCOMPATIBLE_VERSION, 409),
        (StatusCode.DEADLINE_EXCEEDED, 504),
        (StatusCode.UNAUTHENTICATED, 401),
        (StatusCode.PERMISSION_DENIED, 403),
        (StatusCode.UNIMPLEMENTED, 501),
        (StatusCode.INTERNAL, 500),
    ],
)
def test_http_status(code: StatusCode, status: int) -> None:
    assert problems.http_status_for(code) == status
    response = problems.handle_exception({"path": "/v1/x"}, MLOSError.for_code(code, "why"))
    assert response.status_code == status
    body = json.loads(bytes(response.body))
    assert body == {
        "type": f"urn:mlos:error:{code.name.lower()}",
        "title": body["title"],
        "status": status,
        "detail": "why",
        "code": code.name.lower(),
    }


def test_v2_errors_are_error_objects() -> None:
    error = MLOSError.for_code(StatusCode.NOT_FOUND, "no model 'm'")
    response = problems.handle_exception({"path": "/v2/models/m"}, error)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert json.loads(bytes(response.body)) == {"error": "no model 'm'"}


def test_unexpected_exception_hides_its_message() -> None:
    response = problems.handle_exception({"path": "/v1/x"}, RuntimeError("secret /etc/path"))
    assert response.status_code == 500
    assert b"secret" not in response.body
    assert json.loads(bytes(response.body))["code"] == "internal"


def test_http_errors_get_a_code() -> None:
    assert problems.code_for_http_status(404) is StatusCode.NOT_FOUND
    assert problems.code_for_http_status(415) is StatusCode.INVALID_ARGUMENT
    assert problems.code_for_http_status(413) is StatusCode.RESOURCE_EXHAUSTED
    assert problems.code_for_http_status(502) is StatusCode.INTERNAL
