"""A direct channel's shared memory: client regions the plugin process reads in place.

A client of a direct channel (:mod:`mlos.sdk.direct`) need not send a large input through the
channel's socket: it writes the input into a memfd it created, sends the memfd once on the
channel's *region socket* (a `SOCK_SEQPACKET` socket the core made with the channel: one
datagram, the region id as :data:`mlos.wire.handoff.CHANNEL_TAG` with the descriptor attached),
and names the region in the request's `Tensor.shared_memory` as
:func:`mlos.wire.handoff.channel_region_name` (channel id, region id). The plugin host maps the
memfd once and hands the model an array over the client's bytes: no copy between the client's
array and the model.

A region is accepted only when the memfd is sealed against shrinking (`F_SEAL_SHRINK`): the
client cannot cut the pages from under a mapping (which would kill the plugin process with
SIGBUS). Its size is bounded by the channel's frame limit (what the channel accepts inline
anyway), and a channel keeps at most :data:`MAX_REGIONS` (a new one replaces the oldest).
Everything is unmapped when the channel closes; the memory itself belongs to the client.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import socket
import stat
from collections import OrderedDict

from mlos.errors import FailedPrecondition
from mlos.sdk.segments import SegmentMap
from mlos.wire.handoff import channel_region_name, receive_tagged

__all__ = ["MAX_REGIONS", "ChannelRegions"]

MAX_REGIONS = 16
"""Regions one channel keeps mapped at most (an asyncio client uses one per call in flight)."""


class ChannelRegions:
    """The regions one channel's client sent (mapped into the host's :class:`SegmentMap`)."""

    def __init__(
        self, channel_id: int, sock: socket.socket, segments: SegmentMap, max_bytes: int
    ) -> None:
        sock.setblocking(False)
        self._sock: socket.socket | None = sock
        self._segments = segments
        self._max_bytes = max_bytes
        self._prefix = channel_region_name(channel_id, 0)[:-1]
        self._mapped: OrderedDict[str, None] = OrderedDict()
        self._refused: dict[str, str] = {}

    def owns(self, name: str) -> bool:
        """Whether `name` names a region of this channel (sent yet or not)."""
        return name.startswith(self._prefix) and name[len(self._prefix) :].isdigit()

    def require(self, name: str) -> None:
        """Make sure region `name` of this channel is mapped, taking what the client has sent
        so far; FailedPrecondition (the client sends the call through the server) when it was
        never sent or could not be used."""
        if name in self._mapped:
            return
        self._take()
        if name in self._mapped:
            return
        why = self._refused.get(name, "the client has not sent it on the channel")
        raise FailedPrecondition(f"shared memory region {name!r} cannot be used: {why}")

    def _take(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for region_id, (fd,) in receive_tagged(sock, 1):
            name = self._prefix + str(region_id)
            try:
                mapping = self._map(fd)
            except (OSError, ValueError) as exc:
                self._refused[name] = str(exc)
                while len(self._refused) > MAX_REGIONS:
                    self._refused.pop(next(iter(self._refused)))
                continue
            finally:
                os.close(fd)
            self._forget(name)
            self._segments.attach(name, mapping)
            self._mapped[name] = None
            while len(self._mapped) > MAX_REGIONS:
                self._forget(next(iter(self._mapped)))

    def _map(self, fd: int) -> mmap.mmap:
        """The memfd `fd` mapped, once it is known to be safe to map; ValueError says why not."""
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a memory file")
        try:
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        except OSError:
            raise ValueError("it is not a memfd (it cannot be sealed)") from None
        if not seals & fcntl.F_SEAL_SHRINK:
            raise ValueError("it is not sealed against shrinking (F_SEAL_SHRINK)")
        if not 0 < info.st_size <= self._max_bytes:
            raise ValueError(
                f"its size ({info.st_size} bytes) is not within the channel's limit "
                f"({self._max_bytes} bytes)"
            )
        return mmap.mmap(fd, info.st_size)

    def _forget(self, name: str) -> None:
        if name in self._mapped:
            del self._mapped[name]
            self._segments.detach(name)

    def close(self) -> None:
        """Unmap every region (arrays over one keep it mapped until they go) and close the
        region socket."""
        for name in list(self._mapped):
            self._forget(name)
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
