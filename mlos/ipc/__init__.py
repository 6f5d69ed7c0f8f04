"""The IPC transport runtime: framing, client channels and servicer dispatch over Unix sockets."""

from mlos.ipc.channel import Channel
from mlos.ipc.framing import Frame, FrameDecoder, FrameKind, ProtocolError
from mlos.ipc.method import CallContext, Method
from mlos.ipc.server import ServerConnection

__all__ = [
    "CallContext",
    "Channel",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "Method",
    "ProtocolError",
    "ServerConnection",
]
