"""Shared memory in the core: the client region registry, the plugin segment pools, and the
engine moving tensors through both with a real plugin process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlos.core.arena import MIN_BLOCK, Arenas, SegmentPool, sweep
from mlos.core.engine import Engine
from mlos.core.shm import SystemSharedMemory
from mlos.errors import AlreadyExists, InvalidArgument, NotFound
from mlos.sdk.segments import SegmentMap
from mlos.wire.shared_memory import INTERNAL_PREFIX, SHM_DIR
from mlos.wire.tensors import from_numpy, to_numpy
from mlos_generated import smi_pb2
from tests.core.conftest import Settings, add_double_plugin, model_file

ROWS = 8192  # x is [ROWS, 4] FP32: 128 KiB, above the 64 KiB threshold


@pytest.fixture
def objects() -> Iterator[list[Path]]:
    """POSIX shm objects a test creates (as a client would), removed after it."""
    created: list[Path] = []
    yield created
    for path in created:
        path.unlink(missing_ok=True)


def make_object(objects: list[Path], size: int, name: str = "obj") -> str:
    """Create a shm object of `size` bytes; return its key."""
    key = f"/mlos_core_test_{os.getpid()}_{name}"
    path = SHM_DIR / key.lstrip("/")
    path.write_bytes(b"\0" * size)
    objects.append(path)
    return key


def core_segments() -> list[str]:
    return sorted(p.name for p in SHM_DIR.glob(f"{INTERNAL_PREFIX}{os.getpid()}-*"))


def shm_input(name: str, region: str, shape: list[int], offset: int = 0) -> smi_pb2.Tensor:
    tensor = smi_pb2.Tensor(name=name, datatype="FP32", shape=shape)
    tensor.parameters["shared_memory_region"].string_param = region
    tensor.parameters["shared_memory_byte_size"].int64_param = 4 * int(np.prod(shape))
    tensor.parameters["shared_memory_offset"].int64_param = offset
    return tensor


# ----- the registry ----------------------------------------------------------------------


def test_register_status_unregister(objects: list[Path]) -> None:
    key = make_object(objects, 8192)
    regions = SystemSharedMemory()
    regions.register("a", key, 4096, 4096)
    regions.register("b", key.lstrip("/"), 0, 8192)  # with or without the leading slash
    assert [r.as_json() for r in regions.status("a")] == [
        {"name": "a", "key": key, "offset": 4096, "byte_size": 4096}
    ]
    assert sorted(r.name for r in regions.status()) == ["a", "b"]
    with pytest.raises(AlreadyExists):
        regions.register("a", key, 0, 16)
    regions.unregister("a")
    regions.unregister("a")  # unknown names succeed
    with pytest.raises(NotFound):
        regions.status("a")
    regions.unregister()
    assert regions.status() == []


@pytest.mark.parametrize(
    ("key", "offset", "size", "error"),
    [
        ("/mlos_core_test_missing", 0, 16, NotFound),
        ("../etc/passwd", 0, 16, InvalidArgument),
        ("/a/b", 0, 16, InvalidArgument),
        (f"/{INTERNAL_PREFIX}1-x-0", 0, 16, InvalidArgument),
        ("OBJECT", 0, 8193, InvalidArgument),
        ("OBJECT", 8000, 193, InvalidArgument),
        ("OBJECT", 0, 0, InvalidArgument),
    ],
)
def test_registration_is_checked(
    objects: list[Path], key: str, offset: int, size: int, error: type[Exception]
) -> None:
    real = make_object(objects, 8192)
    with pytest.raises(error):
        SystemSharedMemory().register("r", real if key == "OBJECT" else key, offset, size)


def test_a_symlink_is_not_followed(objects: list[Path], tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"x" * 4096)
    link = SHM_DIR / f"mlos_core_test_{os.getpid()}_link"
    link.symlink_to(secret)
    objects.append(link)
    with pytest.raises(InvalidArgument):
        SystemSharedMemory().register("r", link.name, 0, 16)


def test_bind_reads_inside_the_region_and_refuses_outside(objects: list[Path]) -> None:
    key = make_object(objects, 8192)
    regions = SystemSharedMemory()
    regions.register("r", key, 4096, 4096)
    data = np.arange(16, dtype=np.float32)
    (SHM_DIR / key.lstrip("/")).write_bytes(b"\0" * 4160 + data.tobytes() + b"\0" * 3968)
    request = smi_pb2.InferRequest(inputs=[shm_input("x", "r", [16], offset=64)])
    binding = regions.bind(request)
    assert binding is not None
    np.testing.assert_array_equal(np.frombuffer(binding.inputs["x"], np.float32), data)
    assert request.inputs[0].shared_memory.region == "r" and not request.inputs[0].parameters
    binding.release()

    for tensor in (
        shm_input("x", "r", [1024], offset=4),  # runs past the end
        shm_input("x", "r", [1], offset=4096),  # starts past the end
        shm_input("x", "nope", [1]),
    ):
        with pytest.raises((InvalidArgument, NotFound)):
            regions.bind(smi_pb2.InferRequest(inputs=[tensor]))
    half = smi_pb2.Tensor(name="x", datatype="FP32", shape=[1])
    half.parameters["shared_memory_region"].string_param = "r"
    with pytest.raises(InvalidArgument, match="both"):
        regions.bind(smi_pb2.InferRequest(inputs=[half]))
    both = shm_input("x", "r", [1])
    both.contents = b"\0" * 4
    with pytest.raises(InvalidArgument, match="both data and shared memory"):
        regions.bind(smi_pb2.InferRequest(inputs=[both]))
    output = smi_pb2.RequestedOutput(name="y")
    output.parameters["shared_memory_region"].string_param = "r"
    output.parameters["shared_memory_byte_size"].int64_param = 4097
    with pytest.raises(InvalidArgument, match="outside"):
        regions.bind(smi_pb2.InferRequest(outputs=[output]))
    assert regions.bind(smi_pb2.InferRequest(inputs=[from_numpy("x", data)])) is None


def test_a_region_shrunk_by_its_client_is_refused_not_a_crash(objects: list[Path]) -> None:
    key = make_object(objects, 8192)
    regions = SystemSharedMemory()
    regions.register("r", key, 0, 8192)
    os.truncate(SHM_DIR / key.lstrip("/"), 100)
    with pytest.raises(InvalidArgument, match="shrank"):
        regions.bind(smi_pb2.InferRequest(inputs=[shm_input("x", "r", [1000])]))


def test_unregister_during_a_request_waits_for_it(objects: list[Path]) -> None:
    key = make_object(objects, 4096)
    regions = SystemSharedMemory()
    regions.register("r", key, 0, 4096)
    binding = regions.bind(smi_pb2.InferRequest(inputs=[shm_input("x", "r", [4])]))
    assert binding is not None
    regions.unregister("r")
    assert bytes(binding.inputs["x"]) == b"\0" * 16  # still mapped
    binding.release()
    with pytest.raises(NotFound):
        regions.bind(smi_pb2.InferRequest(inputs=[shm_input("x", "r", [4])]))


# ----- segment pools and the plugin side -------------------------------------------------


def test_pool_reuses_blocks_respects_its_limit_and_unlinks_on_close() -> None:
    pool = SegmentPool(limit=2 * MIN_BLOCK)
    first = pool.acquire(100_000)
    assert first is not None and first.size == MIN_BLOCK
    pool.release(first)
    again = pool.acquire(MIN_BLOCK)
    assert again is first
    second = pool.acquire(10)
    assert second is not None and pool.acquire(10) is None  # full: the caller goes inline
    pool.release(second, reuse=False)  # retired: unlinked at once
    assert pool.names() == [first.name]
    bigger = pool.acquire(MIN_BLOCK + 1)  # evicts nothing busy, so it does not fit
    assert bigger is None
    pool.close()
    assert pool.names() == [] and not (SHM_DIR / first.name).exists()
    pool.release(first)  # a request finishing after close
    assert pool.acquire(10) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a file to another user needs root")
def test_segments_of_a_plugin_running_as_another_user_are_handed_to_it() -> None:
    arenas = Arenas()
    arenas.set_owner("p", 65534)
    pool = arenas.pool("p", True)
    assert pool is not None
    block = pool.acquire(10)
    assert block is not None
    try:
        info = (SHM_DIR / block.name).stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (65534, 0o600)
        arenas.set_owner("p", -1)  # back to the server's user: the old pool goes
        assert not (SHM_DIR / block.name).exists()
        other = arenas.pool("p", True)
        assert other is not None and other is not pool
    finally:
        arenas.close()


def test_plugin_side_maps_only_core_segments_and_reads_in_place() -> None:
    pool = SegmentPool()
    block = pool.acquire(4096)
    assert block is not None
    try:
        data = np.arange(8, dtype=np.float32)
        block.view[64 : 64 + 32] = data.tobytes()
        segments = SegmentMap()
        ref = smi_pb2.SharedMemoryRef(region=block.name, offset=64, byte_size=32)
        tensor = smi_pb2.Tensor(name="x", datatype="FP32", shape=[2, 4], shared_memory=ref)
        array = segments.array(tensor)
        np.testing.assert_array_equal(array.reshape(-1), data)
        block.view[64:68] = np.float32(42).tobytes()
        assert array[0, 0] == 42  # a view of the segment, not a copy

        output = smi_pb2.RequestedOutput(name="y")
        room = smi_pb2.SharedMemoryRef(region=block.name, offset=128, byte_size=32)
        for key, value in (("region", room.region), ("offset", 128), ("byte_size", 32)):
            param = output.parameters[f"shared_memory_{key}"]
            if isinstance(value, str):
                param.string_param = value
            else:
                param.int64_param = value
        placed = segments.place(output, data.reshape(2, 4) * 2, "FP32")
        assert placed is not None and placed.shared_memory.byte_size == 32
        np.testing.assert_array_equal(np.frombuffer(block.view[128:160], np.float32), data * 2)

        for name in ("etc_passwd", "../x", f"mlos_core_test_{os.getpid()}"):
            bad = smi_pb2.Tensor(name="x", datatype="FP32", shape=[1])
            bad.shared_memory.region = name
            bad.shared_memory.byte_size = 4
            with pytest.raises(InvalidArgument):
                segments.array(bad)
        past = smi_pb2.SharedMemoryRef(region=block.name, offset=block.size - 4, byte_size=8)
        bad = smi_pb2.Tensor(name="x", datatype="FP32", shape=[2], shared_memory=past)
        with pytest.raises(InvalidArgument):
            segments.array(bad)
        segments.close()
    finally:
        pool.close()


def test_sweep_removes_segments_of_dead_cores() -> None:
    dead = SHM_DIR / f"{INTERNAL_PREFIX}999999999-dead-0"
    alive = SHM_DIR / f"{INTERNAL_PREFIX}{os.getpid()}-alive-0"
    dead.write_bytes(b"x")
    alive.write_bytes(b"x")
    try:
        assert dead.name in sweep()
        assert not dead.exists() and alive.exists()
    finally:
        dead.unlink(missing_ok=True)
        alive.unlink(missing_ok=True)


# ----- the engine with a real plugin process ---------------------------------------------


async def _double_model(engine: Engine, tmp_path: Path) -> None:
    await add_double_plugin(engine)
    await engine.register_model(
        smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path)))
    )


def _large_request() -> tuple[smi_pb2.InferRequest, np.ndarray]:
    data = np.random.default_rng(0).random((ROWS, 4), dtype=np.float32)
    return smi_pb2.InferRequest(model_name="m", inputs=[from_numpy("x", data)]), data


async def test_large_tensors_travel_through_the_plugin_pool(engine: Engine, tmp_path: Path) -> None:
    await _double_model(engine, tmp_path)
    assert engine.plugins.get("double").info.capabilities.shared_memory
    for _ in range(3):
        request, data = _large_request()
        response = await engine.infer(request)
        np.testing.assert_array_equal(to_numpy(response.outputs[0]), data * 2)
        assert not response.outputs[0].HasField("shared_memory")
    assert len(core_segments()) == 1  # one block, reused
    concurrent = [_large_request() for _ in range(4)]
    results = await asyncio.gather(*(engine.infer(request) for request, _ in concurrent))
    for (_, data), response in zip(concurrent, results, strict=True):
        np.testing.assert_array_equal(to_numpy(response.outputs[0]), data * 2)


async def _double_model_with_shared_memory(
    engine: Engine, tmp_path: Path, shared_memory: bool
) -> None:
    """The double model, in a plugin that takes shared memory or (as if) does not."""
    await _double_model(engine, tmp_path)
    info = engine.plugins.get("double").info
    assert info is not None
    info.capabilities.shared_memory = shared_memory


@pytest.mark.parametrize("shared_memory", [True, False])
async def test_large_contents_of_the_wrong_size_are_refused_by_the_core(
    engine: Engine, tmp_path: Path, shared_memory: bool
) -> None:
    """The size of large contents is checked where they are read for the pool, not before."""
    await _double_model_with_shared_memory(engine, tmp_path, shared_memory)
    request, _ = _large_request()
    request.inputs[0].contents = request.inputs[0].contents[:-4]
    needed = ROWS * 16
    message = f"input 'x' has {needed - 4} bytes of data, shape [{ROWS}, 4] of FP32 needs {needed}"
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        await engine.infer(request)
    request, data = _large_request()  # the pool's block went back and serves the next request
    np.testing.assert_array_equal(to_numpy((await engine.infer(request)).outputs[0]), data * 2)
    assert len(core_segments()) == (1 if shared_memory else 0)


@pytest.mark.parametrize("shared_memory", [True, False])
async def test_attachments_reach_the_plugin_without_passing_through_the_request(
    engine: Engine, tmp_path: Path, shared_memory: bool
) -> None:
    await _double_model_with_shared_memory(engine, tmp_path, shared_memory)
    for rows in (ROWS, 2):  # through the pool (or inline without one), and a small one inline
        data = np.random.default_rng(rows).random((rows, 4), dtype=np.float32)
        request = smi_pb2.InferRequest(model_name="m")
        request.inputs.add(name="x", datatype="FP32", shape=[rows, 4])
        response = await engine.infer(request, {"x": memoryview(data.tobytes())})
        np.testing.assert_array_equal(to_numpy(response.outputs[0]), data * 2)
    request = smi_pb2.InferRequest(model_name="m")
    request.inputs.add(name="x", datatype="FP32", shape=[ROWS, 4])
    with pytest.raises(InvalidArgument, match=f"has 16 bytes of data, shape \\[{ROWS}, 4\\]"):
        await engine.infer(request, {"x": bytes(16)})


async def test_a_plugin_without_shared_memory_gets_inline_bytes(
    engine: Engine, tmp_path: Path
) -> None:
    await _double_model(engine, tmp_path)
    info = engine.plugins.get("double").info
    assert info is not None
    info.capabilities.shared_memory = False
    request, data = _large_request()
    np.testing.assert_array_equal(to_numpy((await engine.infer(request)).outputs[0]), data * 2)
    assert core_segments() == []


async def test_client_regions_in_and_out(
    engine: Engine, tmp_path: Path, objects: list[Path]
) -> None:
    await _double_model(engine, tmp_path)
    size = ROWS * 16
    key = make_object(objects, 2 * size)
    data = np.random.default_rng(1).random((ROWS, 4), dtype=np.float32)
    path = SHM_DIR / key.lstrip("/")
    with path.open("r+b") as file:
        file.write(data.tobytes())
    await engine.register_system_shm("io", key, 0, 2 * size)
    for rows in (ROWS, 2):  # through the plugin pool, and inline
        request = smi_pb2.InferRequest(model_name="m", inputs=[shm_input("x", "io", [rows, 4])])
        output = request.outputs.add(name="y")
        output.parameters["shared_memory_region"].string_param = "io"
        output.parameters["shared_memory_offset"].int64_param = size
        output.parameters["shared_memory_byte_size"].int64_param = size
        response = await engine.infer(request)
        result = response.outputs[0]
        assert not result.contents and result.shared_memory.byte_size == rows * 16
        assert result.parameters["shared_memory_region"].string_param == "io"
        written = np.frombuffer(path.read_bytes()[size : size + rows * 16], np.float32)
        np.testing.assert_array_equal(written.reshape(rows, 4), data[:rows] * 2)
    await engine.unregister_system_shm()
    assert await engine.system_shm_status() == []


async def test_no_segments_left_after_unload_crash_and_stop(tmp_path: Path) -> None:
    engine = Engine(Settings(tmp_path / "home"))
    await engine.start()
    try:
        await _double_model(engine, tmp_path)
        await engine.infer(_large_request()[0])
        assert core_segments()
        await engine.unload_plugin("double")
        assert core_segments() == []
        await engine.load_plugin("double")
        await engine.infer(_large_request()[0])
        process = engine.plugins.get("double").process
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        for _ in range(400):
            if not core_segments() and await engine.model_ready("m"):
                break
            await asyncio.sleep(0.025)
        assert core_segments() == []
        request, data = _large_request()
        np.testing.assert_array_equal(to_numpy((await engine.infer(request)).outputs[0]), data * 2)
        assert core_segments()
    finally:
        await engine.stop()
    assert core_segments() == []


def test_a_segment_shrunk_by_a_plugin_is_never_used_again() -> None:
    pool = SegmentPool()
    block = pool.acquire(10)
    assert block is not None and block.intact()
    pool.release(block)
    os.truncate(SHM_DIR / block.name, 0)  # what a broken plugin could do
    assert not block.intact()
    again = pool.acquire(10)
    assert again is not None and again is not block and again.intact()
    pool.close()


def test_a_region_may_start_anywhere_in_its_object(objects: list[Path]) -> None:
    key = make_object(objects, 8192)
    data = np.arange(4, dtype=np.float32)
    with (SHM_DIR / key.lstrip("/")).open("r+b") as file:
        file.seek(5000 + 12)
        file.write(data.tobytes())
    regions = SystemSharedMemory()
    regions.register("odd", key, 5000, 100)  # not page aligned
    binding = regions.bind(smi_pb2.InferRequest(inputs=[shm_input("x", "odd", [4], offset=12)]))
    assert binding is not None
    np.testing.assert_array_equal(np.frombuffer(binding.inputs["x"], np.float32), data)
    binding.release()
    regions.close()
