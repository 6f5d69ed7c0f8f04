"""Shared-memory regions registered over the IPC API of a real server, then used for inference."""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np
import pytest

from mlos.errors import AlreadyExists, InvalidArgument
from mlos.ipc import Channel
from mlos.loop import run
from mlos.tensors import from_numpy
from mlos_generated import smi_ipc, smi_pb2
from tests.server_fixture import MLOSServer


def test_register_use_and_unregister_a_region_over_ipc(mlos_demo_server: MLOSServer) -> None:
    data = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    segment = shared_memory.SharedMemory(create=True, size=data.nbytes + 64)
    segment.buf[64 : 64 + data.nbytes] = data.tobytes()

    async def scenario() -> None:
        channel = await Channel.connect(str(mlos_demo_server.home / "mlos.sock"))
        client = smi_ipc.MLOSClient(channel)
        try:
            region = smi_pb2.SharedMemoryRegion(
                name="in", key=segment.name, offset=0, byte_size=data.nbytes + 64
            )
            registered = await client.register_system_shared_memory(region)
            assert registered.regions[0].key == segment.name
            with pytest.raises(AlreadyExists):
                await client.register_system_shared_memory(region)

            tensor = smi_pb2.Tensor(name="input", datatype="FP32", shape=[2, 64])
            tensor.shared_memory.region = "in"
            tensor.shared_memory.offset = 64
            tensor.shared_memory.byte_size = data.nbytes
            from_shm = await client.infer(smi_pb2.InferRequest(model_name="demo", inputs=[tensor]))
            inline = await client.infer(
                smi_pb2.InferRequest(model_name="demo", inputs=[from_numpy("input", data)])
            )
            assert from_shm.outputs[0].contents == inline.outputs[0].contents

            tensor.shared_memory.offset = data.nbytes  # past the end of the region
            with pytest.raises(InvalidArgument):
                await client.infer(smi_pb2.InferRequest(model_name="demo", inputs=[tensor]))
            left = await client.unregister_system_shared_memory(smi_pb2.SharedMemoryRegionRef())
            assert not left.regions
        finally:
            channel.close()

    try:
        run(scenario())
    finally:
        segment.close()
        segment.unlink()
