"""What authentication, rate limits, admission and the audit stage cost per call.

    .venv/bin/python -m mlos.bench.security_cost [--calls 20000] [--rounds 20]

Runs one call at a time through the pipeline of a real engine (auth on, as `mlos serve` runs
it, and with `auth: false`) to a handler that returns at once, and prints the best round in
microseconds per call: the stages' own cost, apart from any transport. Measured in-process, so
that the machine's other work, which makes whole-request benchmarks vary by more than these
stages cost, does not hide the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from mlos.bench.timing import best_per_call_us
from mlos.config import Settings
from mlos.core.engine import Engine
from mlos.core.operations import operation
from mlos.core.pipeline import Call, Caller, Transport
from mlos_generated import smi_pb2


async def _handler(request: int, call: Call) -> int:
    return request


async def measure(calls: int, rounds: int) -> dict[str, float]:
    """Microseconds per call by case."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mlos-security-cost-") as scratch:
        for auth in (False, True):
            home = Path(scratch) / ("auth" if auth else "open")
            # Limits far above what a loop of bare calls reaches: their check still runs.
            unlimited = dict.fromkeys(
                ("anonymous", "viewer", "inference", "operator", "admin"), "10000000/s:10000000"
            )
            engine = Engine(Settings(home=home, auth=auth, rate_limits=unlimited))
            await engine.start()
            try:
                created = await engine.create_token(
                    smi_pb2.CreateTokenRequest(name="bench", role=smi_pb2.ROLE_INFERENCE)
                )
                cases: dict[str, Caller] = {
                    "REST/gRPC with a token": Caller(
                        Transport.REST, peer="127.0.0.1:1", token=created.token
                    ),
                    "IPC, the server's own user": Caller(
                        Transport.IPC, peer=f"uid:{os.getuid()}", uid=os.getuid()
                    ),
                }
                for case, caller in cases.items():
                    for name in ("infer", "health"):
                        call = Call(operation(name), caller, model="m")

                        async def run(call: Call = call, engine: Engine = engine) -> Any:
                            return await engine.pipeline.run(call, _handler, 1)

                        label = f"{name}, {case}, auth {'on' if auth else 'off'}"
                        results[label] = await best_per_call_us(run, calls, rounds)
            finally:
                await engine.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.calls, args.rounds))
    width = max(len(label) for label in results)
    for label, micros in results.items():
        print(f"{label:<{width}}  {micros:8.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
