"""An in-memory stand-in for mlos.client.Client, so CLI tests run in-process with no server.

It records every call in `calls` and answers from small dictionaries; `fail` makes the next
call raise an error of the caller's choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import numpy as np

from mlos.client import Array
from mlos.errors import MLOSError, NotFound
from mlos_generated import smi_pb2

URL = "http://mlos.test:8080"


def demo_metadata(name: str = "demo") -> smi_pb2.ModelMetadata:
    return smi_pb2.ModelMetadata(
        name=name, version="1", plugin="onnx", platform="onnxruntime_onnx", max_batch_size=8,
        inputs=[smi_pb2.TensorMetadata(name="input", datatype="FP32", shape=[-1, 4])],
        outputs=[smi_pb2.TensorMetadata(name="output", datatype="FP32", shape=[-1, 2])],
    )


class FakeClient:
    """Plugins `onnx` (ready) and model `demo` version 1; infer sums the input's rows."""

    def __init__(self, url: str = URL, **options: Any) -> None:
        self.url = url
        self.options = options
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: MLOSError | None = None
        self.ready = True
        self.plugins = {
            "onnx": smi_pb2.PluginStatus(
                name="onnx", version="0.1.0", state=smi_pb2.PLUGIN_STATE_READY, pid=42,
                source=smi_pb2.PluginSource(entry_point="onnx"), models=["demo/1"],
                info=smi_pb2.PluginInfo(
                    smi_versions=[smi_pb2.SmiVersion(major=1, minor=0)],
                    capabilities=smi_pb2.PluginCapabilities(formats=["onnx"], gpu=False),
                ),
            )
        }
        self.models = {
            ("demo", "1"): smi_pb2.ModelStatus(
                name="demo", version="1", plugin="onnx", path="/models/demo.onnx",
                state=smi_pb2.MODEL_STATE_READY, metadata=demo_metadata(),
            )
        }

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error

    def health(self) -> smi_pb2.HealthResponse:
        self._call("health")
        return smi_pb2.HealthResponse(live=True, ready=self.ready,
                                      plugins=list(self.plugins.values()))

    def server_metadata(self) -> dict[str, Any]:
        self._call("server_metadata")
        return {"name": "mlos", "version": "0", "extensions": []}

    def resources(self) -> smi_pb2.ResourcesResponse:
        self._call("resources")
        return smi_pb2.ResourcesResponse(
            host=smi_pb2.HostResources(
                cpu_count=2, cpu_percent=12.5, memory_total_bytes=8 * 2**30,
                memory_available_bytes=6 * 2**30,
                gpus=[smi_pb2.GpuResources(index=0, name="H100", memory_total_bytes=80 * 2**30)],
            ),
            plugins=[smi_pb2.ProcessResources(plugin="onnx", pid=42, rss_bytes=3 * 2**20,
                                              num_threads=4, num_fds=9,
                                              memory_granted_bytes=5 * 2**20, gpus_granted=[0])],
            budget=smi_pb2.ResourceBudget(
                memory_bytes=2**30, memory_granted_bytes=5 * 2**20,
                memory_free_bytes=2**30 - 5 * 2**20, cpu_set="0-1", cpus=2.0, cpus_granted=0.5,
                gpu_source="nvml", gpus_granted=1,
                gpus=[smi_pb2.GpuResources(index=0, name="H100", plugins=["onnx"])],
            ),
            models=[smi_pb2.ModelResourceUse(name="demo", version="1", plugin="onnx",
                                             memory_granted_bytes=2 * 2**20,
                                             memory_used_bytes=2 * 2**20, basis="measured",
                                             cpus_granted=0.5)],
        )

    def register_plugin(self, name: str, version: str | None = None,
                        entry_point: str | None = None, module: str | None = None,
                        executable: str | None = None,
                        python: str | None = None) -> smi_pb2.PluginStatus:
        self._call("register_plugin", name, version, entry_point, module, executable)
        status = smi_pb2.PluginStatus(name=name, version=version or "",
                                      state=smi_pb2.PLUGIN_STATE_REGISTERED)
        if module:
            status.source.module = module
        if python:
            status.python = python
        self.plugins[name] = status
        return status

    def list_plugins(self) -> list[smi_pb2.PluginStatus]:
        self._call("list_plugins")
        return list(self.plugins.values())

    def get_plugin(self, name: str) -> smi_pb2.PluginStatus:
        self._call("get_plugin", name)
        if name not in self.plugins:
            raise NotFound(f"no plugin {name!r}")
        return self.plugins[name]

    def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        self._call("load_plugin", name)
        status = self.plugins[name]
        status.state, status.pid = smi_pb2.PLUGIN_STATE_READY, 77
        return status

    def unload_plugin(self, name: str) -> smi_pb2.PluginStatus:
        self._call("unload_plugin", name)
        status = self.plugins[name]
        status.state, status.pid = smi_pb2.PLUGIN_STATE_UNLOADED, 0
        return status

    def remove_plugin(self, name: str) -> None:
        self._call("remove_plugin", name)
        del self.plugins[name]

    def register_model(self, name: str, path: str, plugin: str | None = None,
                       version: str | None = None,
                       config: Mapping[str, str] | None = None,
                       resources: smi_pb2.ModelResources | None = None,
                       dynamic_batching: Mapping[str, Any] | None = None,
                       instance_count: int = 0) -> smi_pb2.ModelStatus:
        extra: list[Any] = [resources] if resources is not None else []
        if dynamic_batching is not None or instance_count:
            extra.append({"dynamic_batching": dynamic_batching, "instance_count": instance_count})
        self._call("register_model", name, path, plugin, version, dict(config or {}), *extra)
        status = smi_pb2.ModelStatus(
            name=name, version=version or "1", plugin=plugin or "onnx", path=path,
            state=smi_pb2.MODEL_STATE_READY, metadata=demo_metadata(name), config=config or {},
            instance_count=instance_count or 1,
        )
        if dynamic_batching is not None:
            status.dynamic_batching.CopyFrom(smi_pb2.DynamicBatching(**dynamic_batching))
        self.models[(name, status.version)] = status
        return status

    def list_models(self) -> list[smi_pb2.ModelStatus]:
        self._call("list_models")
        return list(self.models.values())

    def _versions(self, name: str, version: str | None) -> list[smi_pb2.ModelStatus]:
        found = [s for (n, v), s in self.models.items() if n == name and version in (None, v)]
        if not found:
            raise NotFound(f"no model {name!r}")
        return found

    def get_model(self, name: str, version: str | None = None) -> smi_pb2.Model:
        self._call("get_model", name, version)
        return smi_pb2.Model(name=name, versions=self._versions(name, version))

    def remove_model(self, name: str, version: str | None = None) -> list[smi_pb2.ModelStatus]:
        self._call("remove_model", name, version)
        removed = self._versions(name, version)
        for status in removed:
            del self.models[(status.name, status.version)]
        return removed

    def model_metadata(self, name: str, version: str | None = None) -> smi_pb2.ModelMetadata:
        self._call("model_metadata", name, version)
        return self._versions(name, version)[-1].metadata

    def model_ready(self, name: str, version: str | None = None) -> bool:
        self._call("model_ready", name, version)
        return True

    def infer(self, model: str, inputs: Mapping[str, Array], outputs: Sequence[str] | None = None,
              version: str | None = None, binary: bool = True,
              datatypes: Mapping[str, str] | None = None) -> dict[str, Array]:
        self._call("infer", model, dict(inputs), outputs, version, binary, dict(datatypes or {}))
        self._versions(model, version)
        first = next(iter(inputs.values()))
        if first.dtype.kind in "OSU":
            return {"echo": first}
        return {"output": np.asarray(first).sum(axis=-1, keepdims=True).astype(np.float32)}

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        pass
