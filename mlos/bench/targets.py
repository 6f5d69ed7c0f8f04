"""The latency targets of the design notes (p50, one client) and whether a run met them."""

from __future__ import annotations

from dataclasses import dataclass

from mlos.bench.report import Result
from mlos.columns import aligned

__all__ = [
    "IPC_PATHS",
    "LARGE_CLIENT",
    "LARGE_CLIENT_LIMIT",
    "PROTOCOLS",
    "TARGETS",
    "TRANSFER",
    "TRANSFER_CLIENT",
    "Verdict",
    "evaluate",
    "verdict_table",
]

PROTOCOLS = ("REST", "gRPC", "IPC")

TARGETS: dict[str, tuple[float, float, float | None]] = {
    "health": (1.0, 0.5, 0.05),
    "small inference": (1.0, 0.8, None),
    "plugin registration": (5.0, 2.0, 0.5),
    "model registration (small)": (10.0, 5.0, 1.0),
    "large inference": (2.0, 1.0, 0.2),
}
"""Milliseconds for REST, gRPC and IPC; for large inference, above the raw compute. None:
judged only on the paths :data:`IPC_PATHS` names (IPC small inference, on direct channels)."""

IPC_PATHS: dict[tuple[str, str], tuple[str, float]] = {
    ("health", "IPC"): ("IPC, client spins", 0.05),
    ("small inference", "IPC"): ("IPC, direct", 0.2),
    ("small inference", "IPC, polling"): ("IPC, direct, client spins", 0.1),
}
"""Where an IPC target names a client: (operation, protocol as reported) → the measured path
that is judged and its limit (sleeping client on a direct channel; polling client). The row
of the plain path ("IPC": relayed, sleeping client) is judged too where the table names it."""

RAW = "onnxruntime (in-process)"
"""The path name of the raw framework measurements."""

TRANSFER = "large input, no compute"
"""The operation that moves the large model's tensors through a model with no compute."""

TRANSFER_CLIENT = f"{TRANSFER} (numpy client)"
"""The same through the public client (over IPC: its inputs in shared memory)."""

LARGE_CLIENT = "large inference (numpy client)"
"""The large model through the public client (over IPC: a direct channel, its inputs in the
channel's shared memory)."""
LARGE_CLIENT_LIMIT = 1.0
"""Milliseconds the public client's large inference may take above the in-process call, on
every protocol (the throughput issue's one-client target)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One cell of the targets table."""

    operation: str
    protocol: str
    target: str
    p50_ms: float
    met: bool


def evaluate(results: list[Result], overheads: dict[str, float] | None = None) -> list[Verdict]:
    """Every target that the results measured, at concurrency 1.

    For large inference the target is compute plus a margin: `overheads` gives, per protocol,
    what the protocol added to the compute measured beside it; without it the p50 of the raw
    onnxruntime row is taken as the compute. A second verdict judges the transport alone when
    the run measured :data:`TRANSFER`: the same tensors through a model with no compute, less
    the raw call of that model; a third, the same through the public client
    (:data:`TRANSFER_CLIENT`), when the run measured that.
    """
    overheads = overheads or {}
    p50 = {(r.operation, r.path): r.p50_ms for r in results if r.concurrency == 1}
    verdicts = []
    for operation, limits in TARGETS.items():
        for protocol, limit in zip(PROTOCOLS, limits, strict=True):
            measured = p50.get((operation, protocol))
            if measured is None or limit is None:
                continue
            if operation == "large inference":
                added = overheads.get(protocol)
                if added is None:
                    compute = p50.get((operation, RAW))
                    if compute is None:
                        continue
                    added = measured - compute
                target = f"compute + {limit:g} ms (added: {added:.3f} ms)"
                verdicts.append(Verdict(operation, protocol, target, measured, added <= limit))
                moved = p50.get((TRANSFER, protocol))
                raw = p50.get((TRANSFER, RAW))
                if moved is not None and raw is not None:
                    # The same tensors through a model with no compute: the transport alone.
                    alone = moved - raw
                    target = f"compute + {limit:g} ms, transport alone (added: {alone:.3f} ms)"
                    verdicts.append(Verdict(operation, protocol, target, moved, alone <= limit))
                moved = p50.get((TRANSFER_CLIENT, protocol))
                if moved is not None and raw is not None:
                    alone = moved - raw
                    target = f"compute + {limit:g} ms, numpy client, transport ({alone:.3f} ms)"
                    verdicts.append(Verdict(operation, protocol, target, moved, alone <= limit))
                continue
            target = f"{limit:g} ms"
            verdicts.append(Verdict(operation, protocol, target, measured, measured <= limit))
    raw_large = p50.get(("large inference", RAW))
    for protocol in PROTOCOLS:
        measured = p50.get((LARGE_CLIENT, protocol))
        if measured is not None and raw_large is not None:
            added = measured - raw_large
            target = f"in-process + {LARGE_CLIENT_LIMIT:g} ms, numpy client ({added:.3f} ms)"
            verdicts.append(
                Verdict("large inference", protocol, target, measured, added <= LARGE_CLIENT_LIMIT)
            )
    for (operation, protocol), (path, limit) in IPC_PATHS.items():
        measured = p50.get((operation, path))
        if measured is not None:
            target = f"{limit:g} ms ({path.removeprefix('IPC, ')})"
            verdicts.append(Verdict(operation, protocol, target, measured, measured <= limit))
    return verdicts


def verdict_table(verdicts: list[Verdict]) -> str:
    """The targets as a fixed-width table."""
    header = ("operation", "protocol", "target p50", "measured p50", "met")
    rows = [
        (v.operation, v.protocol, v.target, f"{v.p50_ms:.3f} ms", "yes" if v.met else "NO")
        for v in verdicts
    ]
    return aligned(header, rows)
