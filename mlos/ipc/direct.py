"""`DirectChannels.Open` on the IPC socket: a client's channel straight to a model's plugin.

The call runs through the call pipeline as the `infer` operation on the model it names (the
same authentication, access, model scope and rate limit as an `Infer`), then the engine grants
the channel (:mod:`mlos.core.channels`) and the answer carries the client's ends of the channel
and of its region socket (`SCM_RIGHTS`, :attr:`mlos.wire.method.CallContext.pass_fds`).
docs/ipc.md describes it.
"""

from __future__ import annotations

import os

from mlos.core.dataplane import Dataplane
from mlos.core.operations import operation
from mlos.core.pipeline import Call, Caller, Transport
from mlos.ipc.service import TOKEN_METADATA_KEY, IPCService
from mlos.wire.method import CallContext
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["DirectIPCService"]

_INFER = operation("infer")


class _DirectChannelsTable:
    """The methods of `DirectChannels` (`mlos.wire.method_table` reads every base's)."""

    METHODS = smi_ipc.DirectChannelsServicer.METHODS


class DirectIPCService(IPCService, _DirectChannelsTable):  # type: ignore[misc]  # METHODS: IPCService reads its own; the wire reads both
    """The MLOS service on the IPC socket, and `DirectChannels` beside it."""

    def __init__(self, engine: Dataplane) -> None:
        super().__init__(engine)
        self._engine = engine

    async def open(
        self, request: smi_pb2.DirectChannelRequest, context: CallContext
    ) -> smi_pb2.DirectChannel:
        """Grant a channel to the model for this caller; its socket goes with the answer."""
        uid = context.peer_uid
        peer = "" if uid is None else f"uid:{uid}"
        caller = Caller(
            Transport.IPC, peer=peer, token=context.metadata.get(TOKEN_METADATA_KEY), uid=uid
        )
        call = Call(_INFER, caller, deadline=context.deadline, connection=context.connection)
        call.model = request.model_name
        call.version = request.model_version
        opened: list[int] = []
        engine = self._engine

        async def grant(
            request: smi_pb2.DirectChannelRequest, call: Call
        ) -> smi_pb2.DirectChannel:
            principal = call.caller.principal or call.caller.peer
            channel, fds = await engine.open_channel(
                request.model_name, request.model_version, principal, call,
                request.max_in_flight,
            )
            opened.extend(fds)
            return channel

        try:
            answer: smi_pb2.DirectChannel = await engine.pipeline.run(call, grant, request)
        except BaseException:
            for fd in opened:
                os.close(fd)
            raise
        context.pass_fds = tuple(opened)
        return answer
