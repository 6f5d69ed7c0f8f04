"""System shared memory: the vocabulary the core and the plugin host share.

Two kinds of POSIX shared-memory segments carry tensors:

* **client regions** — created by a client (`tritonclient.utils.shared_memory`, `shm_open`),
  registered by name under Triton's system shared-memory extension, and referenced by the
  tensor parameters `shared_memory_region`, `shared_memory_offset` and
  `shared_memory_byte_size` (:mod:`mlos.core.shm`);
* **internal segments** — created and owned by the core, named with :data:`INTERNAL_PREFIX`, to
  move large tensors between the core and a plugin process without copying them through the
  socket (:mod:`mlos.core.arena`, :mod:`mlos.sdk.segments`). Clients may not register them.

Segments are files under ``/dev/shm`` (where Linux's `shm_open` puts them), so the standard
library opens and maps them; no third-party module is needed.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
from collections.abc import MutableMapping
from pathlib import Path

from mlos.errors import InvalidArgument, NotFound, PermissionDenied
from mlos_generated import smi_pb2

__all__ = [
    "BYTE_SIZE",
    "INTERNAL_PREFIX",
    "OFFSET",
    "REGION",
    "SHM_DIR",
    "is_internal",
    "map_segment",
    "open_segment",
    "pop_ref",
    "segment_path",
    "set_ref_parameters",
]

REGION = "shared_memory_region"
OFFSET = "shared_memory_offset"
BYTE_SIZE = "shared_memory_byte_size"

SHM_DIR = Path("/dev/shm")
INTERNAL_PREFIX = "mlos-smi-"
"""Names of the core's own segments start with this; a client key may not."""

_KEY = re.compile(r"^/*([^/\x00]{1,255})$")


def segment_path(key: str) -> Path:
    """The file of a POSIX shm key ("/name" or "name"); InvalidArgument for anything else."""
    match = _KEY.match(key)
    if match is None or match.group(1) in (".", ".."):
        raise InvalidArgument(f"shared memory key {key!r} is not a POSIX shared memory name")
    return SHM_DIR / match.group(1)


def is_internal(name: str) -> bool:
    """Whether `name` (a key or a file name) names one of the core's own segments."""
    return name.lstrip("/").startswith(INTERNAL_PREFIX)


def open_segment(path: Path, key: str) -> int:
    """Open an existing segment read-write (never through a symlink); return the descriptor."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"unable to open shared memory region {key!r}: it does not exist") from None
    except PermissionError:
        raise PermissionDenied(
            f"unable to open shared memory region {key!r}: permission denied"
        ) from None
    except OSError as exc:
        raise InvalidArgument(
            f"unable to open shared memory region {key!r}: {exc.strerror}"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidArgument(f"shared memory region {key!r} is not a shared memory object")
    return fd


def map_segment(fd: int, offset: int, length: int) -> tuple[mmap.mmap, int]:
    """Map `length` bytes of `fd` from `offset`; return the mapping and where `offset` lies in it.

    mmap needs a page-aligned offset, so the mapping starts at the page holding `offset`.
    """
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    try:
        mapping = mmap.mmap(fd, length + offset - start, offset=start)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"cannot map shared memory: {exc}") from None
    return mapping, offset - start


def _integer(value: smi_pb2.Parameter, key: str, where: str) -> int:
    choice = value.WhichOneof("choice")
    if choice not in ("int64_param", "uint64_param"):
        raise InvalidArgument(f"{where}: parameter {key!r} must be an integer")
    number = int(getattr(value, choice))
    if number < 0:
        raise InvalidArgument(f"{where}: parameter {key!r} must not be negative")
    return number


def pop_ref(
    parameters: MutableMapping[str, smi_pb2.Parameter], where: str
) -> smi_pb2.SharedMemoryRef | None:
    """Take the shared-memory parameters out of `parameters` as a reference (None if absent).

    `shared_memory_region` and `shared_memory_byte_size` go together; the offset defaults to 0.
    """
    if REGION not in parameters and BYTE_SIZE not in parameters and OFFSET not in parameters:
        return None
    if REGION not in parameters or BYTE_SIZE not in parameters:
        raise InvalidArgument(
            f"{where}: shared memory needs both {REGION!r} and {BYTE_SIZE!r} parameters"
        )
    region = parameters[REGION]
    if region.WhichOneof("choice") != "string_param" or not region.string_param:
        raise InvalidArgument(f"{where}: parameter {REGION!r} must be a region name")
    ref = smi_pb2.SharedMemoryRef(
        region=region.string_param,
        byte_size=_integer(parameters[BYTE_SIZE], BYTE_SIZE, where),
        offset=_integer(parameters[OFFSET], OFFSET, where) if OFFSET in parameters else 0,
    )
    for key in (REGION, OFFSET, BYTE_SIZE):
        if key in parameters:
            del parameters[key]  # a message map's pop() makes up a value for a missing key
    return ref


def set_ref_parameters(
    parameters: MutableMapping[str, smi_pb2.Parameter], ref: smi_pb2.SharedMemoryRef
) -> None:
    """Write a reference as the three shared-memory parameters."""
    parameters[REGION].string_param = ref.region
    parameters[OFFSET].int64_param = ref.offset
    parameters[BYTE_SIZE].int64_param = ref.byte_size
