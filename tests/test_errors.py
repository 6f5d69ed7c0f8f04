"""The error hierarchy mirrors the SMI error codes exactly."""

from __future__ import annotations

from mlos import errors
from mlos.errors import MLOSError, NotFound, StatusCode
from mlos_generated import smi_pb2


def test_status_codes_are_the_smi_error_codes() -> None:
    smi_names = {
        name.removeprefix("ERROR_CODE_"): number
        for name, number in smi_pb2.ErrorCode.items()
        if name != "ERROR_CODE_UNSPECIFIED"
    }
    assert {code.name: int(code) for code in StatusCode} == smi_names


def test_every_code_has_one_error_class_and_round_trips_through_the_wire() -> None:
    for code in StatusCode:
        error = MLOSError.for_code(code, "message")
        assert error.code is code
        again = MLOSError.from_proto(smi_pb2.Error.FromString(error.to_proto().SerializeToString()))
        assert type(again) is type(error) and again.message == "message"


def test_unknown_wire_codes_become_internal_errors() -> None:
    error = MLOSError.from_proto(smi_pb2.Error(code=999, message="?"))
    assert isinstance(error, errors.InternalError)


def test_public_surface_is_explicit() -> None:
    def public(name: str, value: object) -> bool:
        if name.startswith("_"):
            return False
        if isinstance(value, type):
            return issubclass(value, (MLOSError, StatusCode))
        return name.isupper() and isinstance(value, str)  # wire constants, like RELAY_DETAIL

    assert set(errors.__all__) == {name for name, value in vars(errors).items() if public(name, value)}
    assert NotFound("x").code.slug == "not_found"
