"""Axon: installing a large package over parallel HTTP ranges versus one stream, through a
throttled proxy (the numbers in docs/benchmarks.md).

    .venv/bin/python -m mlos.bench.axon_download [--size-mb 200] [--rate-mib 10]
        [--connections 1 4 8] [--repeat 2]

Builds a package holding one file of ``--size-mb`` random (incompressible) megabytes with
``axon pack``, publishes it into a registry directory (checked as every publish is), serves it
with ``axon registry serve`` on loopback, and puts a proxy in front of the registry, on
loopback too, that lets each TCP connection carry at most ``--rate-mib`` MiB/s from the
registry to the client — a per-connection limit like a long-distance TCP flow or a CDN's
per-connection cap. Then, for each ``--connections`` value, in a fresh Axon home each time:

* ``download``: :func:`axon.transfer.fetch_blob` alone — the bytes over the proxy and the
  sha256 check — as ``axon install`` does it with ``connections`` set to that value;
* ``install``: the whole :meth:`axon.installer.Installer.install` (resolve, manifest, download,
  verify, extract with every file hashed, commit).

Prints the median of ``--repeat`` runs per value and the speed-up over one connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Event

import requests

REPO = pathlib.Path(__file__).resolve().parents[1]


# -- the throttling proxy ------------------------------------------------------------------


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                rate: float | None) -> None:
    """Copy until EOF; with ``rate``, no faster than ``rate`` bytes per second on average."""
    started, sent = time.monotonic(), 0
    try:
        while chunk := await reader.read(64 << 10):
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _proxy(listen: int, upstream: int, rate: float, ready: Event) -> None:
    """Run the proxy: 127.0.0.1:listen → 127.0.0.1:upstream, downstream throttled per link."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(_pump(client_r, server_w, None), _pump(server_r, client_w, rate))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- fixtures ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _package(work: pathlib.Path, size: int) -> pathlib.Path:
    """A package with one ``size``-byte file of random bytes."""
    from axon.manifest import MANIFEST_NAME, dump_yaml
    from axon.package import fill_files, pack

    src = work / "src"
    src.mkdir()
    with (src / "weights.bin").open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            out.write(chunk)
            left -= len(chunk)
    manifest = {
        "manifest_version": 1, "namespace": "bench", "name": "big", "version": "1.0.0",
        "description": "Random bytes for the download benchmark.",
        "framework": {"name": "custom", "format": "custom"}, "entrypoint": "weights.bin",
        "files": [{"path": "weights.bin", "role": "weights"}],
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}],
        "plugin": {"name": "custom"},
    }
    (src / MANIFEST_NAME).write_text(dump_yaml(fill_files(manifest, src)), encoding="utf-8")
    return pack(src, work / "big.axon").path


@contextlib.contextmanager
def _registry(root: pathlib.Path) -> Iterator[int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "axon", "registry", "serve", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def _throttled(upstream: int, rate: float) -> Iterator[int]:
    port = _free_port()
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=_proxy, args=(port, upstream, rate, ready),
                                      daemon=True)
    process.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the proxy did not start")
        yield port
    finally:
        process.terminate()
        process.join(10)


# -- the runs ------------------------------------------------------------------------------


def _run(url: str, connections: int, whole: bool) -> float:
    """Seconds for one download (or whole install) into a fresh Axon home."""
    from axon.cache import Cache, blob_lock
    from axon.config import Config
    from axon.installer import Installer
    from axon.reference import ModelRef
    from axon.transfer import fetch_blob

    with tempfile.TemporaryDirectory(prefix="axon-bench-") as tmp:
        env = {"AXON_CONNECTIONS": str(connections), "AXON_TIMEOUT": "120"}
        config = Config(pathlib.Path(tmp), env)
        config.add_registry("bench", url)
        installer = Installer(config, "bench")
        started = time.perf_counter()
        if whole:
            assert installer.install("bench/big@1.0.0").installed
        else:
            client = installer.client()
            resolved = client.resolve(ModelRef("bench", "big", "1.0.0"))
            cache = Cache(config.cache_dir)
            with cache.lock(blob_lock(resolved.sha256)):
                fetch_blob(client, cache, resolved.sha256, resolved.size,
                           connections=connections,
                           parallel_min_bytes=int(config.get("parallel_min_bytes")))
        return time.perf_counter() - started


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="package size (10^6 bytes)")
    parser.add_argument("--rate-mib", type=float, default=10.0,
                        help="proxy limit per connection, MiB/s (0: no limit)")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from axon.registry_store import RegistryStore

    with tempfile.TemporaryDirectory(prefix="axon-bench-") as tmp:
        work = pathlib.Path(tmp)
        started = time.perf_counter()
        package = _package(work, args.size_mb * 10**6)
        packed = time.perf_counter() - started
        root = work / "registry"
        RegistryStore(root).publish_package(package)
        size = package.stat().st_size
        limit = f"{args.rate_mib:g} MiB/s per connection" if args.rate_mib else "no limit"
        print(f"package: {size / 1e6:.1f} MB (packed in {packed:.1f} s); proxy: {limit}; "
              f"median of {args.repeat}", flush=True)
        with _registry(root) as registry, _throttled(registry, args.rate_mib * 2**20) as proxy:
            url = f"http://127.0.0.1:{proxy}"
            rows = []
            for connections in args.connections:
                download = statistics.median(_run(url, connections, False)
                                             for _ in range(args.repeat))
                install = statistics.median(_run(url, connections, True)
                                            for _ in range(args.repeat))
                rows.append((connections, download, install))
    base_download, base_install = rows[0][1], rows[0][2]
    print(f"{'connections':>11}  {'download s':>10}  {'MB/s':>6}  {'x':>5}  "
          f"{'install s':>9}  {'x':>5}")
    for connections, download, install in rows:
        print(f"{connections:>11}  {download:>10.2f}  {size / 1e6 / download:>6.1f}  "
              f"{base_download / download:>5.2f}  {install:>9.2f}  {base_install / install:>5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
