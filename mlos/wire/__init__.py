"""What servers, clients and plugins share on the wire, and nothing else.

Every layer above sits on this package and it imports none of them: the IPC framing with its
method table, the asyncio stream of frames both ends share, typed client channel and servicer
dispatch (:mod:`~mlos.wire.framing`, :mod:`~mlos.wire.method`, :mod:`~mlos.wire.stream`,
:mod:`~mlos.wire.channel`, :mod:`~mlos.wire.connection`), the tables
from MLOS status codes to HTTP, gRPC and IPC statuses (:mod:`~mlos.wire.status`), tensor
contents and numpy (:mod:`~mlos.wire.tensors`), the JSON mapping of messages
(:mod:`~mlos.wire.encoding`), the Open Inference Protocol's HTTP bodies with Triton's binary
tensor extension (:mod:`~mlos.wire.oip_http`), shared-memory tensor references
(:mod:`~mlos.wire.shared_memory`) and the role names of the SMI `Role` enum
(:mod:`~mlos.wire.roles`). The generated IPC stubs import only this package.
"""

from mlos.wire.channel import Channel
from mlos.wire.connection import ServerConnection
from mlos.wire.framing import Frame, FrameDecoder, FrameKind, ProtocolError
from mlos.wire.method import CallContext, ConnectionHooks, Method

__all__ = [
    "CallContext",
    "Channel",
    "ConnectionHooks",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "Method",
    "ProtocolError",
    "ServerConnection",
]
