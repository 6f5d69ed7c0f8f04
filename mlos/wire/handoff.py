"""Handing descriptors between processes: what direct channels are made of (docs/ipc.md).

The core passes a plugin process, besides its SMI connection, a `SOCK_SEQPACKET` socket named
by the environment variable :data:`CHANNEL_FD_ENV`. Each datagram on it is one channel id
(:data:`CHANNEL_TAG`, 8 bytes little-endian) with two sockets attached (`SCM_RIGHTS`): the
plugin's end of a direct channel and of its *region socket*, whose grant follows as
`PluginChannels.OpenChannel`. On a region socket the client sends, the same way, its
shared-memory regions: a region id with one sealed memfd attached (:mod:`mlos.sdk.regions`).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Sequence

__all__ = [
    "CHANNEL_FD_ENV",
    "CHANNEL_REGION_PREFIX",
    "CHANNEL_TAG",
    "channel_region_name",
    "receive_tagged",
    "send_tagged",
]

CHANNEL_FD_ENV = "MLOS_CHANNEL_FD"
"""The environment variable naming a plugin's inherited channel socket."""
CHANNEL_TAG = struct.Struct("<Q")
"""The datagram that carries descriptors: the id they belong to (a channel's, a region's)."""
CHANNEL_REGION_PREFIX = "mlos-channel-"
"""Names of direct-channel regions start with this (never a file under /dev/shm)."""


def channel_region_name(channel_id: int, region_id: int) -> str:
    """The name requests on channel `channel_id` give the client's region `region_id`."""
    return f"{CHANNEL_REGION_PREFIX}{channel_id}-{region_id}"


def send_tagged(sock: socket.socket, tag: int, fds: Sequence[int]) -> None:
    """Send `fds` tagged with `tag` as one datagram (the receiver gets its own copies)."""
    socket.send_fds(sock, [CHANNEL_TAG.pack(tag)], list(fds))


def receive_tagged(sock: socket.socket, count: int = 1) -> list[tuple[int, tuple[int, ...]]]:
    """Every (tag, descriptors) waiting on `sock`, without blocking; datagrams that are not
    one tag with exactly `count` descriptors are dropped (with the descriptors they carried)."""
    found: list[tuple[int, tuple[int, ...]]] = []
    while True:
        try:
            data, fds, _flags, _ = socket.recv_fds(
                sock, CHANNEL_TAG.size, count + 1,
                socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC,
            )  # fmt: skip
        except (BlockingIOError, InterruptedError):
            return found
        if not data and not fds:
            return found  # the other end closed
        if len(data) != CHANNEL_TAG.size or len(fds) != count:
            for fd in fds:
                os.close(fd)
            continue
        found.append((CHANNEL_TAG.unpack(data)[0], tuple(fds)))
