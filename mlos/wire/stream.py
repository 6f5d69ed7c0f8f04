"""The asyncio side of an IPC connection that both ends share: bytes in, frames out.

:class:`FrameStream` is the `asyncio.BufferedProtocol` under the client's
:class:`~mlos.wire.channel.Channel` and the server's
:class:`~mlos.wire.connection.ServerConnection`: the event loop receives straight into a
:class:`~mlos.wire.framing.FrameDecoder`'s buffers, every complete frame goes to
:meth:`FrameStream.frames_received`, and frames go out in one write when they can.
"""

from __future__ import annotations

import asyncio
from typing import cast

from mlos.loop import keep_polling
from mlos.wire.framing import (
    DEFAULT_MAX_FRAME,
    Frame,
    FrameDecoder,
    ProtocolError,
    widen_send_buffer,
)

__all__ = ["FrameStream"]


class FrameStream(asyncio.BufferedProtocol):
    """Reads frames from and writes frames to one Unix stream connection.

    A subclass handles what arrives (:meth:`frames_received`) and may say why before it drops a
    connection whose bytes break the framing (:meth:`framing_broken`; by default the
    connection is aborted).
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._decoder = FrameDecoder(max_frame)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport, with a send buffer wide enough for a large frame."""
        self._transport = cast(asyncio.Transport, transport)
        widen_send_buffer(transport.get_extra_info("socket"))

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the event loop reads the next bytes into (the decoder's buffers)."""
        return self._decoder.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        """Hand on the frames the bytes just read complete."""
        try:
            frames = self._decoder.buffer_updated(nbytes)
        except ProtocolError as exc:
            self.framing_broken(exc)
            return
        self.frames_received(frames)

    def frames_received(self, frames: list[Frame]) -> None:
        """Handle complete frames, in the order they arrived."""
        raise NotImplementedError

    def framing_broken(self, exc: ProtocolError) -> None:
        """The peer sent bytes that are not frames: drop the connection."""
        if self._transport is not None:
            self._transport.abort()

    def _write(self, parts: tuple[bytes, ...]) -> None:
        """Send a frame's parts (`frame_parts`) in one write; nothing once disconnected."""
        keep_polling()
        transport = self._transport
        if transport is None:
            return
        if len(parts) == 1:
            transport.write(parts[0])
        else:
            transport.writelines(parts)
