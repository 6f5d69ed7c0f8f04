"""Handing sockets between processes: what direct channels are made of (docs/ipc.md).

The core passes a plugin process, besides its SMI connection, a `SOCK_SEQPACKET` socket named
by the environment variable :data:`CHANNEL_FD_ENV`. Each datagram on it is one channel id
(:data:`CHANNEL_TAG`, 8 bytes little-endian) with one socket attached (`SCM_RIGHTS`): the
plugin's end of a direct channel, whose grant follows as `PluginChannels.OpenChannel`.
"""

from __future__ import annotations

import os
import socket
import struct

__all__ = ["CHANNEL_FD_ENV", "CHANNEL_TAG", "receive_tagged", "send_tagged"]

CHANNEL_FD_ENV = "MLOS_CHANNEL_FD"
"""The environment variable naming a plugin's inherited channel socket."""
CHANNEL_TAG = struct.Struct("<Q")
"""The datagram that carries a channel's socket: its channel id."""


def send_tagged(sock: socket.socket, channel_id: int, fd: int) -> None:
    """Send `fd` tagged with `channel_id` (the receiver gets its own copy)."""
    socket.send_fds(sock, [CHANNEL_TAG.pack(channel_id)], [fd])


def receive_tagged(sock: socket.socket) -> list[tuple[int, int]]:
    """Every (channel id, fd) waiting on `sock`, without blocking; malformed datagrams (and
    the descriptors they carried) are dropped."""
    found: list[tuple[int, int]] = []
    while True:
        try:
            data, fds, _flags, _ = socket.recv_fds(
                sock, CHANNEL_TAG.size, 4, socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC
            )
        except (BlockingIOError, InterruptedError):
            return found
        if not data and not fds:
            return found  # the other end closed
        if len(data) != CHANNEL_TAG.size or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            continue
        found.append((CHANNEL_TAG.unpack(data)[0], fds[0]))
