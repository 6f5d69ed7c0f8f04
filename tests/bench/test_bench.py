"""The benchmark's own logic, in-process: timing, targets, the command line (no server)."""

from __future__ import annotations

import threading

import pytest

from mlos.bench.report import Result, summarize
from mlos.bench.runner import _addresses
from mlos.bench.targets import (
    LARGE_CLIENT,
    RAW,
    TRANSFER,
    TRANSFER_CLIENT,
    evaluate,
    verdict_table,
)
from mlos.bench.timing import measure
from mlos.cli.main import build_parser


class Counter:
    """A session that records which indices it was called with, and from which thread."""

    opened: list[Counter] = []

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.removed: list[int] = []
        self.threads: dict[int, int] = {}
        self.closed = False
        Counter.opened.append(self)

    def call(self, index: int) -> None:
        self.calls.append(index)
        self.threads[index] = threading.get_ident()


def test_measure_spreads_distinct_indices_over_clients_and_cleans_up() -> None:
    Counter.opened = []
    result = measure(
        "op", "IPC", Counter, lambda s, i: s.call(i), 40, concurrency=4, warmup=3,
        cleanup=lambda s, i: s.removed.append(i), close=lambda s: setattr(s, "closed", True),
    )
    sessions = Counter.opened
    assert len(sessions) == 4 and all(s.closed for s in sessions)
    timed = sorted(i for s in sessions for i in s.calls if i >= 0)
    assert timed == list(range(40))
    assert sorted(i for s in sessions for i in s.calls if i < 0) == [-3, -2, -1]
    timed_threads = {t for s in sessions for i, t in s.threads.items() if i >= 0}
    assert len(timed_threads) == 4  # one thread per client
    assert sorted(sessions[0].removed) == [-3, -2, -1, *range(40)]
    assert (result.operation, result.path, result.concurrency, result.requests) == ("op", "IPC", 4, 40)
    assert result.throughput_rps > 0 and result.p50_ms <= result.p90_ms <= result.p99_ms


def test_summarize_percentiles() -> None:
    result = summarize("op", "REST", [i / 1000 for i in range(1, 101)], wall_s=2.0)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (51.0, 91.0, 100.0)
    assert result.throughput_rps == 50.0


def result(operation: str, path: str, p50: float, concurrency: int = 1) -> Result:
    return Result(operation, path, concurrency, 100, p50, p50, p50, p50, 1.0)


def test_targets_met_and_missed() -> None:
    verdicts = evaluate([
        result("health", "REST", 0.9),
        result("health", "IPC", 0.06),
        result("health", "IPC", 0.01, concurrency=8),  # only one client counts
        result("large inference", RAW, 7.0),
        result("large inference", "gRPC", 7.9),
        result("large inference", "IPC", 7.3),
    ])
    got = {(v.operation, v.protocol): v.met for v in verdicts}
    assert got == {
        ("health", "REST"): True,
        ("health", "IPC"): False,
        ("large inference", "gRPC"): True,
        ("large inference", "IPC"): False,
    }
    text = verdict_table(verdicts)
    assert "compute + 0.2 ms (added: 0.300 ms)" in text and "NO" in text
    # Paired overheads, when measured, decide instead of the raw row.
    paired = evaluate([result("large inference", "IPC", 7.3)], {"IPC": 0.15})
    assert [(v.met, v.p50_ms) for v in paired] == [(True, 7.3)]


def test_the_transport_alone_is_judged_beside_the_paired_overhead() -> None:
    verdicts = evaluate(
        [
            result("large inference", "REST", 30.0),
            result(TRANSFER, "REST", 1.5),
            result(TRANSFER, RAW, 0.02),
            result(TRANSFER_CLIENT, "REST", 2.5),
            result(TRANSFER, "IPC", 1.5),  # no large inference row for IPC: nothing judged
        ],
        {"REST": 4.0},
    )
    assert [(v.target, v.met) for v in verdicts] == [
        ("compute + 2 ms (added: 4.000 ms)", False),
        ("compute + 2 ms, transport alone (added: 1.480 ms)", True),
        ("compute + 2 ms, numpy client, transport (2.480 ms)", False),
    ]


def test_cli_options_and_addresses() -> None:
    args = build_parser().parse_args(
        ["bench", "--protocols", "ipc,grpc", "--concurrency", "32", "--requests", "10"]
    )
    assert (args.protocols, args.concurrency, args.requests) == ("ipc,grpc", 32, 10)
    given = {"rest": "http://h:1", "grpc": "127.0.0.1:9", "ipc": ""}
    assert _addresses(given, ["rest", "grpc", "ipc"]) == {
        "rest": "http://h:1", "grpc": "grpc://127.0.0.1:9"
    }


@pytest.mark.parametrize("bad", ["smtp"])
def test_unknown_protocol_is_refused(bad: str) -> None:
    from mlos.bench.runner import main

    with pytest.raises(SystemExit, match="unknown protocol"):
        main(["--protocols", bad])


def test_median_of_rounds_picks_each_cells_median_round() -> None:
    from mlos.bench.report import median_of_rounds

    rounds = [
        [result("health", "IPC", 3.0), result("health", "REST", 1.0)],
        [result("health", "IPC", 1.0), result("health", "REST", 2.0)],
        [result("health", "IPC", 2.0), result("health", "REST", 3.0)],
    ]
    chosen = {(r.operation, r.path): r.p50_ms for r in median_of_rounds(rounds)}
    assert chosen == {("health", "IPC"): 2.0, ("health", "REST"): 2.0}


def test_call_times_warms_up_then_times_each_call() -> None:
    from mlos.bench.timing import call_times

    calls: list[int] = []
    samples = call_times(lambda: calls.append(len(calls)), 5, warmup=3)
    assert calls == list(range(8))
    assert len(samples) == 5 and all(0 <= s < 1 for s in samples)


def test_ipc_targets_that_name_a_client_are_judged_on_its_path() -> None:
    verdicts = evaluate([
        result("small inference", "IPC", 0.23),  # relayed: not what the target names
        result("small inference", "IPC, direct", 0.15),
        result("small inference", "IPC, direct, client spins", 0.12),
        result("health", "IPC", 0.07),
        result("health", "IPC, client spins", 0.04),
        result("small inference", "gRPC", 0.79),
    ])
    got = {(v.operation, v.protocol, v.target): v.met for v in verdicts}
    assert got == {
        ("health", "IPC", "0.05 ms"): False,
        ("health", "IPC", "0.05 ms (client spins)"): True,
        ("small inference", "gRPC", "0.8 ms"): True,
        ("small inference", "IPC", "0.2 ms (direct)"): True,
        ("small inference", "IPC, polling", "0.1 ms (direct, client spins)"): False,
    }


def test_the_public_clients_large_inference_is_judged_against_the_in_process_call() -> None:
    verdicts = evaluate([
        result("large inference", RAW, 17.0),
        result(LARGE_CLIENT, "IPC", 17.9),
        result(LARGE_CLIENT, "gRPC", 19.5),
    ])
    got = {(v.protocol, v.target): v.met for v in verdicts if v.operation == "large inference"}
    assert got == {
        ("gRPC", "in-process + 1 ms, numpy client (2.500 ms)"): False,
        ("IPC", "in-process + 1 ms, numpy client (0.900 ms)"): True,
    }
