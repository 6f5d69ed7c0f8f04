"""Hot swap: a second process of the plugin runs beside the first and takes its model over.

The core upgrades a plugin by starting a new process next to the one serving, loading the
same models into it, switching calls to it and then unloading and stopping the old one. A
plugin that takes a fixed resource (a port, a lock file, a named segment) or keeps state in
shared files fails this.
"""

from __future__ import annotations

import numpy as np

from mlos.wire.tensors import to_numpy
from mlos_conformance.check import Check, Failed
from mlos_conformance.process import PluginUnderTest
from mlos_conformance.session import MODEL_NAME, MODEL_VERSION, Session
from mlos_conformance.wire import ConnectionDropped, ErrorFrame
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["CHECKS"]


def _same(first: smi_pb2.InferResponse, second: smi_pb2.InferResponse) -> str | None:
    """Why two answers to one request differ (None when they agree to float32 rounding)."""
    mine = {t.name: t for t in first.outputs}
    theirs = {t.name: t for t in second.outputs}
    if set(mine) != set(theirs):
        return f"outputs {sorted(theirs)} instead of {sorted(mine)}"
    for name, tensor in mine.items():
        other = theirs[name]
        if (other.datatype, list(other.shape)) != (tensor.datatype, list(tensor.shape)):
            return f"output {name!r} is {other.datatype} {list(other.shape)}"
        a, b = to_numpy(tensor), to_numpy(other)
        if a.dtype.kind in "fc":
            if not np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True):
                return f"output {name!r} differs"
        elif not np.array_equal(a, b):
            return f"output {name!r} differs"
    return None


async def survives_swap(session: Session) -> str:
    await session.ensure_loaded()
    request = session.infer_request(tag="-swap")
    try:
        before = await session.infer(request)
    except ErrorFrame as exc:
        raise Failed(f"Infer before the swap failed with {exc}") from None
    options = session.options
    timeout = options.call_timeout
    second = await PluginUnderTest.start(session.launch, session.log, options.env)
    try:
        try:
            await second.connection.call(
                smi_ipc.PLUGIN_DESCRIBE,
                smi_pb2.DescribeRequest(core_smi_version=smi_ipc.SMI_VERSION),
                options.start_timeout,
            )
            await second.connection.call(
                smi_ipc.PLUGIN_LOAD_MODEL,
                smi_pb2.LoadModelRequest(
                    name=MODEL_NAME, version=MODEL_VERSION, path=str(session.model),
                    config=dict(options.model_config),
                ),
                options.load_timeout,
            )  # fmt: skip
            after = await second.connection.call(smi_ipc.PLUGIN_INFER, request, timeout)
        except ConnectionDropped:
            await second.wait_exit(2.0)
            raise Failed(
                f"a second process of the plugin {second.describe_exit()} beside the first"
            ) from None
        except ErrorFrame as exc:
            raise Failed(f"a second process of the plugin, beside the first: {exc}") from None
        # The old process lets go of the model, as it does once calls have moved away.
        try:
            await session.unload()
        except ConnectionDropped:
            raise Failed(f"unloading in the first process: {await session.dropped()}") from None
        except ErrorFrame as exc:
            raise Failed(f"unloading in the first process failed with {exc}") from None
        try:
            again = await second.connection.call(smi_ipc.PLUGIN_INFER, request, timeout)
        except (ConnectionDropped, ErrorFrame) as exc:
            raise Failed(f"the second process, once the first unloaded: {exc}") from None
    finally:
        await second.stop(options.shutdown_deadline)
    for label, answer in (("after the swap", after), ("once the first unloaded", again)):
        problem = _same(before, answer)
        if problem is not None:
            raise Failed(f"the second process answered differently {label}: {problem}")
    await session.still_up("a second process of the plugin ran beside it")
    return (
        "a second process loads the model beside the first, answers the same, and keeps "
        "answering after the first unloads it"
    )


CHECKS = (
    Check(
        "lifecycle.swap",
        "A second process of the plugin loads the model while the first still serves it, "
        "answers the same, and keeps answering once the first has unloaded it (a hot swap).",
        survives_swap,
    ),
)
