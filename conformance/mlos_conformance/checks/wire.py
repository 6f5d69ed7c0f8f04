"""The wire: unknown fields are ignored, and every call's deadline is the caller's to enforce."""

from __future__ import annotations

import asyncio

from google.protobuf.message import DecodeError

from mlos.errors import StatusCode
from mlos_conformance.check import Check, Failed
from mlos_conformance.contract import output_problems
from mlos_conformance.session import Session
from mlos_conformance.wire import ErrorFrame, Frame, NoAnswer, error_of
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["CHECKS", "UNKNOWN_FIELDS"]

#: Two fields no SMI message defines, appended to a serialized request: field 999 as a varint
#: (value 1) and field 1000 as length-delimited bytes ("abc").
UNKNOWN_FIELDS = b"\xb8\x3e\x01" + b"\xc2\x3e\x03abc"
#: The deadline of the call that must expire (the kit reads no answer until it has passed).
TINY_DEADLINE = 1e-3
LATE_ANSWER_WAIT = 5.0


async def unknown_fields(session: Session) -> str:
    describe = smi_pb2.DescribeRequest(core_smi_version=smi_ipc.SMI_VERSION)
    try:
        info = await session.call(
            smi_ipc.PLUGIN_DESCRIBE, describe.SerializeToString() + UNKNOWN_FIELDS
        )
        await session.call(
            smi_ipc.PLUGIN_HEALTH,
            smi_pb2.PluginHealthRequest().SerializeToString() + UNKNOWN_FIELDS,
        )
    except ErrorFrame as exc:
        raise Failed(f"a request with unknown fields failed with {exc}") from None
    if session.info is not None and info.name != session.info.name:
        raise Failed(f"Describe with unknown fields names the plugin {info.name!r}")
    if session.model is None or session.load_failure is not None:
        why = "no model given" if session.model is None else "the model did not load"
        return f"Describe and Health ignore fields 999 and 1000 (Infer not tried: {why})"
    metadata = await session.ensure_loaded()
    request = session.infer_request(tag="-unknown-fields")
    try:
        response = await session.call(
            smi_ipc.PLUGIN_INFER, request.SerializeToString() + UNKNOWN_FIELDS
        )
    except ErrorFrame as exc:
        raise Failed(f"Infer with unknown fields failed with {exc}") from None
    problems = output_problems(request, response, metadata)
    if problems:
        raise Failed(f"Infer with unknown fields: {'; '.join(problems)}")
    return "Describe, Health and Infer ignore fields 999 and 1000"


def _judge_late(frame: Frame, method: int) -> str:
    error = error_of(frame)
    if error is not None:
        if error.code != StatusCode.DEADLINE_EXCEEDED:
            raise Failed(f"the plugin answered the expired call with {error}")
        return "late DEADLINE_EXCEEDED frame ignored"
    response_type = (
        smi_pb2.InferResponse if method == smi_ipc.PLUGIN_INFER.id else smi_pb2.PluginHealthResponse
    )
    try:
        response_type.FromString(frame.data)
    except DecodeError:
        raise Failed("the plugin's late answer does not decode") from None
    return "late response ignored"


async def deadline(session: Session) -> str:
    if session.model is not None and session.load_failure is None:
        await session.ensure_loaded()
        method = smi_ipc.PLUGIN_INFER.id
        payload = session.infer_request(tag="-deadline").SerializeToString()
    else:
        method, payload = smi_ipc.PLUGIN_HEALTH.id, b""
    connection = session.plugin.connection
    with connection.holding_answers():
        try:
            await connection.exchange(method, payload, TINY_DEADLINE)
        except NoAnswer:
            pass
        else:
            raise Failed("the call returned although its deadline passed before any answer")
    loop = asyncio.get_running_loop()
    until = loop.time() + LATE_ANSWER_WAIT
    while not connection.late and not connection.closed and loop.time() < until:
        await asyncio.sleep(0.01)
    await session.still_up("a call whose deadline passed")
    late = "no late answer"
    if connection.late:
        _, frame = connection.late.popitem()
        late = _judge_late(frame, method)
    return f"DEADLINE_EXCEEDED on the client side; {late}; the connection still works"


CHECKS = (
    Check(
        "wire.unknown_fields",
        "Requests carrying fields the SMI does not define (appended to the serialized "
        "message) are answered as if the fields were not there.",
        unknown_fields,
    ),
    Check(
        "wire.deadline",
        "A call whose deadline passes ends in DEADLINE_EXCEEDED on the caller's side; the "
        "plugin's late answer (if any) is well formed and the connection keeps working.",
        deadline,
    ),
)
