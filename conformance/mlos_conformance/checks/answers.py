"""Answers: the plugin computes what its fixtures say it must (mlos_conformance.fixtures)."""

from __future__ import annotations

from mlos_conformance.check import Check, Failed, Skipped
from mlos_conformance.compare import compare_output
from mlos_conformance.contract import output_problems
from mlos_conformance.fixtures import Fixture
from mlos_conformance.session import MODEL_VERSION, Session
from mlos_conformance.wire import ConnectionDropped, ErrorFrame
from mlos_generated import smi_pb2

__all__ = ["CHECKS", "SHOWN_PROBLEMS"]

#: Problems spelled out in a failure; the rest are counted.
SHOWN_PROBLEMS = 3


class _Tally:
    """What the fixtures found so far."""

    def __init__(self) -> None:
        self.cases = 0
        self.outputs = 0
        self.worst = 0.0
        self.problems: list[str] = []


def _case_request(
    name: str, index: int, fixture: Fixture, case_index: int, metadata: smi_pb2.ModelMetadata
) -> smi_pb2.InferRequest:
    case = fixture.cases[case_index]
    declared = [spec.name for spec in metadata.inputs]
    unknown = sorted(set(case.inputs) - set(declared))
    if unknown:
        raise ValueError(
            f"the fixture gives input(s) {unknown} the model does not declare (inputs: {declared})"
        )
    return smi_pb2.InferRequest(
        model_name=name,
        model_version=MODEL_VERSION,
        id=f"fixture-{index}-{case_index}",
        inputs=[tensor.to_proto(input_name) for input_name, tensor in case.inputs.items()],
    )


async def _run_case(
    session: Session,
    name: str,
    index: int,
    fixture: Fixture,
    case_index: int,
    metadata: smi_pb2.ModelMetadata,
    tally: _Tally,
) -> None:
    case = fixture.cases[case_index]
    label = f"{fixture.name}/{case.name}"
    tally.cases += 1
    try:
        request = _case_request(name, index, fixture, case_index, metadata)
    except ValueError as exc:
        tally.problems.append(f"{label}: {exc}")
        return
    try:
        response = await session.infer(request)
    except ErrorFrame as exc:
        tally.problems.append(f"{label}: Infer failed with {exc}")
        return
    problems = output_problems(request, response, metadata)
    if problems:
        # Values of outputs shaped or typed against the metadata are not worth comparing.
        tally.problems += [f"{label}: {problem}" for problem in problems]
        return
    returned = {tensor.name: tensor for tensor in response.outputs}
    declared = {spec.name for spec in metadata.outputs}
    for output, expected in case.outputs.items():
        got = returned.get(output)
        if got is None:  # every declared output was returned (output_problems checked)
            problems.append(
                f"the fixture expects output {output!r}, which the model does not declare "
                f"(outputs: {sorted(declared)})"
            )
            continue
        tally.outputs += 1
        comparison = compare_output(output, got, expected, case.tolerance)
        tally.worst = max(tally.worst, comparison.max_difference)
        if comparison.problem is not None:
            problems.append(comparison.problem)
    tally.problems += [f"{label}: {problem}" for problem in problems]


async def _run_fixture(session: Session, index: int, fixture: Fixture, tally: _Tally) -> None:
    name = f"conformance-fixture-{index}"
    try:
        metadata = await session.load(fixture.model, name=name, config=fixture.config)
    except ErrorFrame as exc:
        tally.problems.append(f"{fixture.name}: loading {fixture.model} failed with {exc}")
        return
    try:
        for case_index in range(len(fixture.cases)):
            await _run_case(session, name, index, fixture, case_index, metadata, tally)
    finally:
        if session.plugin.usable:
            await session.unload(name=name)


async def fixtures(session: Session) -> str:
    if not session.fixtures:
        raise Skipped("no fixtures given (--fixtures)")
    tally = _Tally()
    try:
        for index, fixture in enumerate(session.fixtures):
            await _run_fixture(session, index, fixture, tally)
    except ConnectionDropped:
        raise Failed(f"running the fixtures: {await session.dropped()}") from None
    counted = f"{len(session.fixtures)} fixture(s), {tally.cases} case(s)"
    if tally.problems:
        shown = "; ".join(tally.problems[:SHOWN_PROBLEMS])
        more = len(tally.problems) - SHOWN_PROBLEMS
        rest = f"; and {more} more problem(s)" if more > 0 else ""
        raise Failed(f"{counted}: {shown}{rest}")
    return f"{counted}: all {tally.outputs} output(s) as expected (max |diff| {tally.worst:.3g})"


CHECKS = (
    Check(
        "infer.fixtures",
        "Every fixture's model loads and each case's outputs have the expected datatype and "
        "shape and values within the fixture's tolerance (skipped without --fixtures).",
        fixtures,
    ),
)
