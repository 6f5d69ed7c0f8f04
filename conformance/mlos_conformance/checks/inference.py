"""Inference: answers that match the model's metadata, batched and concurrent."""

from __future__ import annotations

import asyncio

from mlos_conformance.check import Check, Failed, Skipped, fail_on
from mlos_conformance.checks.loading import describe_tensors
from mlos_conformance.contract import output_problems
from mlos_conformance.samples import InputMismatch, batch_obstacle
from mlos_conformance.session import Session
from mlos_conformance.wire import ConnectionDropped, ErrorFrame
from mlos_generated import smi_pb2

__all__ = ["BATCH", "CHECKS"]

BATCH = 2


def _request(session: Session, batch: int | None = None, tag: str = "") -> smi_pb2.InferRequest:
    try:
        return session.infer_request(batch, tag)
    except InputMismatch as exc:
        raise Failed(f"the inputs given do not fit the model: {exc}") from None


async def _answer(
    session: Session, request: smi_pb2.InferRequest, batch: int | None = None
) -> smi_pb2.InferResponse:
    metadata = await session.ensure_loaded()
    try:
        response = await session.infer(request)
    except ErrorFrame as exc:
        raise Failed(f"Infer failed with {exc}") from None
    problems = output_problems(request, response, metadata, batch)
    fail_on(problems)
    return response


async def basic(session: Session) -> str:
    await session.ensure_loaded()
    response = await _answer(session, _request(session))
    return f"outputs {describe_tensors(response.outputs)}"


async def batch(session: Session) -> str:
    metadata = await session.ensure_loaded()
    obstacle = batch_obstacle(metadata, BATCH)
    if obstacle is not None:
        raise Skipped(f"cannot batch: {obstacle}")
    response = await _answer(session, _request(session, BATCH, "-batch"), BATCH)
    return f"batch of {BATCH}: outputs {describe_tensors(response.outputs)}"


async def concurrent(session: Session) -> str:
    await session.ensure_loaded()
    info = session.info
    limit = info.capabilities.max_concurrency if info is not None else 1
    count = max(1, min(limit, session.options.max_in_flight))
    requests = [_request(session, tag=f"-{n}") for n in range(count)]
    answers = await asyncio.gather(
        *(_answer(session, request) for request in requests), return_exceptions=True
    )
    failures = [a for a in answers if isinstance(a, BaseException)]
    if any(isinstance(failure, ConnectionDropped) for failure in failures):
        raise Failed(f"{count} requests in flight: {await session.dropped()}")
    if failures:
        raise Failed(
            f"{len(failures)} of {count} requests in flight failed; the first: {failures[0]}"
        )
    return f"{count} requests in flight (max_concurrency {limit}), all answered correctly"


CHECKS = (
    Check(
        "infer.basic",
        "Infer with the given (or generated) inputs succeeds, and the outputs match the "
        "metadata: names, datatypes, ranks, fixed dimensions and sizes.",
        basic,
    ),
    Check(
        "infer.batch",
        f"A batch of {BATCH} along a dynamic first dimension succeeds, with outputs of that "
        "batch (skipped for models that cannot batch).",
        batch,
    ),
    Check(
        "infer.concurrent",
        "As many requests as the plugin's max_concurrency, in flight at once, all succeed.",
        concurrent,
    ),
)
