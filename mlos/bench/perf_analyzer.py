"""Triton's perf_analyzer as a load generator for MLOS: find it, run it, read its report.

    analyzer = PerfAnalyzer.find([Path(".perf_analyzer/bin/perf_analyzer")])
    report = analyzer.run(PerfRun("demo", "127.0.0.1:8081", protocol="grpc", concurrency=(8,)))
    report.rows[0].throughput, report.rows[0].p99_us

`tools/perf_analyzer.sh` installs the binary (it ships in the tritonclient 2.41.0 wheel) into a
virtual environment beside the CUDA runtime library it links against; :meth:`PerfAnalyzer.run`
puts that library on `LD_LIBRARY_PATH`. perf_analyzer runs without a GPU. It reads the model's
metadata, configuration and statistics from the server before and after each measurement window,
so a run also checks that MLOS answers those the way Triton does.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Literal

from mlos.errors import FailedPrecondition, InternalError, InvalidArgument

__all__ = ["BINARY_ENV", "PerfAnalyzer", "PerfReport", "PerfRow", "PerfRun", "parse_csv"]

BINARY_ENV = "MLOS_PERF_ANALYZER"
"""The environment variable that names the perf_analyzer binary to use."""

ServiceProtocol = Literal["http", "grpc"]
TensorFormat = Literal["binary", "json"]


@dataclass(frozen=True, slots=True)
class PerfRun:
    """One perf_analyzer invocation: a model, a server, a load.

    `url` is `host:port` of the REST port (http) or the gRPC port (grpc). `tensor_format` is the
    HTTP tensor encoding of inputs and outputs (Triton's binary extension, or JSON). Each
    concurrency level is measured in windows of `window_ms` until `stability` percent
    agreement, at most `max_trials` windows.
    """

    model: str
    url: str
    protocol: ServiceProtocol = "http"
    tensor_format: TensorFormat = "binary"
    concurrency: Sequence[int] = (1,)
    batch_size: int = 1
    version: str = ""
    asynchronous: bool = False
    window_ms: int = 1000
    stability: int = 10
    max_trials: int = 10
    extra: Sequence[str] = ()

    def arguments(self, csv_path: Path) -> list[str]:
        """The command-line arguments (after the binary)."""
        if self.protocol not in ("http", "grpc"):
            raise InvalidArgument(f"protocol {self.protocol!r} is not http or grpc")
        if self.tensor_format not in ("binary", "json"):
            raise InvalidArgument(f"tensor format {self.tensor_format!r} is not binary or json")
        if self.tensor_format == "json" and self.protocol != "http":
            raise InvalidArgument("JSON tensors are an HTTP encoding; gRPC sends binary")
        if not self.concurrency or any(level < 1 for level in self.concurrency):
            raise InvalidArgument("concurrency levels must be positive integers")
        levels = sorted(set(self.concurrency))
        args = [
            "-m", self.model,
            "-u", self.url,
            "-i", self.protocol,
            "-b", str(self.batch_size),
            "-p", str(self.window_ms),
            "-s", str(self.stability),
            "-r", str(self.max_trials),
            "-f", str(csv_path),
        ]  # fmt: skip
        if len(levels) == 1:
            args += ["--concurrency-range", f"{levels[0]}:{levels[0]}"]
        else:
            args += ["--concurrency-range", f"{levels[0]}:{levels[-1]}:{_step(levels)}"]
        if self.version:
            args += ["-x", self.version]
        if self.asynchronous:
            args.append("--async")
        if self.protocol == "http":
            args += [
                f"--input-tensor-format={self.tensor_format}",
                f"--output-tensor-format={self.tensor_format}",
            ]
        return [*args, *self.extra]


def _step(levels: list[int]) -> int:
    steps = {b - a for a, b in pairwise(levels)}
    if len(steps) != 1:
        raise InvalidArgument(f"concurrency levels {levels} are not evenly spaced")
    return steps.pop()


@dataclass(frozen=True, slots=True)
class PerfRow:
    """One concurrency level of a report: client throughput and latency, server-side phases.

    Latencies are microseconds as perf_analyzer measures them at the client; the server phases
    are averages perf_analyzer computes from the server's statistics (microseconds per request).
    """

    concurrency: int
    throughput: float
    """Inferences per second."""
    p50_us: int
    p90_us: int
    p95_us: int
    p99_us: int
    server_queue_us: int
    server_compute_input_us: int
    server_compute_infer_us: int
    server_compute_output_us: int


@dataclass(frozen=True, slots=True)
class PerfReport:
    """What one run reported: a row per concurrency level, and perf_analyzer's own text."""

    rows: list[PerfRow]
    output: str = field(repr=False)


def parse_csv(text: str) -> list[PerfRow]:
    """The rows of a perf_analyzer `-f` CSV report."""
    rows = []
    for record in csv.DictReader(io.StringIO(text)):

        def number(column: str, record: dict[str, str] = record) -> int:
            value = record.get(column)
            return int(float(value)) if value not in (None, "") else 0

        if not record.get("Concurrency"):
            continue
        rows.append(
            PerfRow(
                concurrency=number("Concurrency"),
                throughput=float(record["Inferences/Second"]),
                p50_us=number("p50 latency"),
                p90_us=number("p90 latency"),
                p95_us=number("p95 latency"),
                p99_us=number("p99 latency"),
                server_queue_us=number("Server Queue"),
                server_compute_input_us=number("Server Compute Input"),
                server_compute_infer_us=number("Server Compute Infer"),
                server_compute_output_us=number("Server Compute Output"),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class PerfAnalyzer:
    """A perf_analyzer binary and the library directories it needs."""

    binary: Path
    library_dirs: tuple[Path, ...] = ()

    @classmethod
    def at(cls, binary: Path) -> PerfAnalyzer:
        """The binary at `binary`, with the CUDA runtime of the virtual environment it sits in."""
        venv = binary.resolve().parent.parent
        libs = sorted(venv.glob("lib/python3*/site-packages/nvidia/cuda_runtime/lib"))
        return cls(binary, tuple(libs))

    @classmethod
    def find(cls, candidates: Iterable[Path] = ()) -> PerfAnalyzer | None:
        """The binary `$MLOS_PERF_ANALYZER` names, else the first candidate that exists, else
        `perf_analyzer` on PATH; None when there is none."""
        named = os.environ.get(BINARY_ENV)
        if named:
            path = Path(named).expanduser()
            if not path.is_file():
                raise FailedPrecondition(f"{BINARY_ENV}={named}: no such file")
            return cls.at(path)
        for candidate in candidates:
            if candidate.is_file():
                return cls.at(candidate)
        found = shutil.which("perf_analyzer")
        return cls.at(Path(found)) if found else None

    def environment(self) -> dict[str, str]:
        """The environment to run the binary in: ours, with its libraries on the search path."""
        env = dict(os.environ)
        if self.library_dirs:
            paths = [str(d) for d in self.library_dirs]
            if env.get("LD_LIBRARY_PATH"):
                paths.append(env["LD_LIBRARY_PATH"])
            env["LD_LIBRARY_PATH"] = os.pathsep.join(paths)
        return env

    def run(self, run: PerfRun, timeout: float = 300.0) -> PerfReport:
        """Run perf_analyzer and read its report; InternalError when it fails."""
        with tempfile.TemporaryDirectory(prefix="mlos-perf-") as scratch:
            report = Path(scratch) / "report.csv"
            command = [str(self.binary), *run.arguments(report)]
            try:
                done = subprocess.run(
                    command,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    env=self.environment(),
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise InternalError(f"perf_analyzer ran past {timeout:g} s") from exc
            except OSError as exc:
                raise FailedPrecondition(f"cannot run {self.binary}: {exc.strerror}") from exc
            output = done.stdout + done.stderr
            if done.returncode != 0 or not report.is_file():
                tail = "\n".join(output.strip().splitlines()[-15:])
                raise InternalError(f"perf_analyzer exited with {done.returncode}:\n{tail}")
            return PerfReport(parse_csv(report.read_text()), output)
