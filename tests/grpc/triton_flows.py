"""tritonclient.grpc flows against a running `mlos serve`, run as a script in its own process.

    python -m tests.grpc.triton_flows HOST:PORT MODELS_DIR [FLOW ...]

tritonclient.grpc and mlos_generated.inference_pb2 define the same protobuf package, so they
cannot share a process; this script imports tritonclient and nothing of MLOS's gRPC code. It
expects the models that tests/grpc/test_tritonclient.py registers (their files are in
MODELS_DIR, for the onnxruntime reference: `mlp`, `strings` and `arithmetic_<datatype>`), runs
each flow (all of them, or those named) and prints one JSON object: {flow: "ok" or the failure}.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

Array = np.ndarray[Any, Any]


class Flows:
    """One method per flow; each raises AssertionError (or anything) when it fails."""

    def __init__(self, address: str, models: Path) -> None:
        self.client = grpcclient.InferenceServerClient(address)
        self.models = models

    def reference(self, model: str, feeds: dict[str, Array]) -> dict[str, Array]:
        session = onnxruntime.InferenceSession(
            str(self.models / f"{model}.onnx"), providers=["CPUExecutionProvider"]
        )
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, feeds), strict=True))

    def infer(self, model: str, outputs: list[str] | None = None, **arrays: Array) -> Any:
        inputs = []
        for name, array in arrays.items():
            tensor = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        wanted = [grpcclient.InferRequestedOutput(o) for o in outputs] if outputs else None
        return self.client.infer(model, inputs, outputs=wanted, request_id="req-1")

    # ----- flows ------------------------------------------------------------------------

    def readiness(self) -> None:
        assert self.client.is_server_live()
        assert self.client.is_server_ready()
        assert self.client.is_model_ready("mlp")
        assert self.client.is_model_ready("mlp", "1")
        assert not self.client.is_model_ready("nope")
        metadata = self.client.get_server_metadata(as_json=True)
        assert metadata["name"] == "mlos", metadata
        assert "model_repository" in metadata["extensions"]

    def metadata(self) -> None:
        metadata = self.client.get_model_metadata("mlp", as_json=True)
        assert metadata["name"] == "mlp" and metadata["versions"] == ["1"], metadata
        assert metadata["platform"] == "onnxruntime_onnx"
        (tensor,) = metadata["inputs"]
        assert (tensor["datatype"], tensor["shape"]) == ("FP32", ["-1", "64"]), tensor
        message = self.client.get_model_metadata("strings")
        assert [t.name for t in message.outputs] == ["upper", "same"]

    def config(self) -> None:
        config = self.client.get_model_config("mlp", as_json=True)["config"]
        assert config["name"] == "mlp" and config["platform"] == "onnxruntime_onnx", config
        assert config["input"][0]["data_type"] == "TYPE_FP32"
        message = self.client.get_model_config("strings").config
        assert message.input[0].data_type == 13  # TYPE_STRING

    def infer_fp32(self) -> None:
        for batch in (1, 5):
            x = np.random.default_rng(batch).random((batch, 64), dtype=np.float32)
            result = self.infer("mlp", input=x)
            (expected,) = self.reference("mlp", {"input": x}).values()
            np.testing.assert_allclose(result.as_numpy("output"), expected, rtol=1e-5, atol=1e-6)
            assert result.get_response().id == "req-1"
            assert result.get_response().model_version == "1"

    def infer_integer_types(self) -> None:
        files = sorted(self.models.glob("arithmetic_*.onnx"))
        assert files, "no arithmetic models"
        for path in files:
            model = path.stem
            datatype = model.removeprefix("arithmetic_").upper()
            dtype = {"BOOL": np.bool_, "FP16": np.float16}.get(datatype, datatype.lower())
            a = (np.arange(12).reshape(3, 4) % 7).astype(dtype)
            b = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
            result = self.infer(model, a=a, b=b)
            expected = self.reference(model, {"a": a, "b": b})
            for name, value in expected.items():
                got = result.as_numpy(name)
                assert got.dtype == value.dtype, (model, name, got.dtype)
                np.testing.assert_array_equal(got, value, err_msg=f"{model}.{name}")

    def infer_bytes(self) -> None:
        text = np.array(["héllo", "World", "", "x" * 300], dtype=object)
        result = self.infer("strings", text=text)
        expected = self.reference("strings", {"text": text.astype(str)})
        upper = [b.decode() for b in result.as_numpy("upper")]
        assert upper == list(expected["upper"]), upper
        assert [b.decode() for b in result.as_numpy("same")] == list(text)
        only = self.infer("strings", outputs=["same"], text=text)
        assert [o.name for o in only.get_response().outputs] == ["same"]

    def stream(self) -> None:
        results: queue.Queue[tuple[Any, Any]] = queue.Queue()
        self.client.start_stream(callback=lambda result, error: results.put((result, error)))
        try:
            x = np.ones((2, 64), dtype=np.float32)
            tensor = grpcclient.InferInput("input", [2, 64], "FP32")
            tensor.set_data_from_numpy(x)
            self.client.async_stream_infer("mlp", [tensor], request_id="s1")
            self.client.async_stream_infer("nope", [tensor], request_id="s2")
            first, error = results.get(timeout=30)
            assert error is None and first.as_numpy("output").shape == (2, 10)
            _, error = results.get(timeout=30)
            assert error is not None and "nope" in str(error)
        finally:
            self.client.stop_stream()

    def statistics(self) -> None:
        def count() -> int:
            stats = self.client.get_inference_statistics("mlp", as_json=True)
            return int(stats["model_stats"][0].get("inference_count", 0))

        before = count()
        self.infer("mlp", input=np.zeros((3, 64), dtype=np.float32))
        assert count() == before + 3
        everything = self.client.get_inference_statistics(as_json=True)
        assert {"mlp", "strings"} <= {s["name"] for s in everything["model_stats"]}

    def repository(self) -> None:
        index = self.client.get_model_repository_index(as_json=True)
        states = {m["name"]: m.get("state") for m in index["models"]}
        assert states["arithmetic_int8"] == "READY", states
        self.client.unload_model("arithmetic_int8")
        assert not self.client.is_model_ready("arithmetic_int8")
        self.client.load_model("arithmetic_int8")
        assert self.client.is_model_ready("arithmetic_int8")

    def errors(self) -> None:
        cases: list[tuple[Callable[[], Any], str]] = [
            (lambda: self.infer("nope", input=np.zeros((1, 64), np.float32)), "NOT_FOUND"),
            (lambda: self.infer("mlp", input=np.zeros((1, 63), np.float32)), "INVALID_ARGUMENT"),
            (lambda: self.infer("mlp", input=np.zeros((1, 64), np.float64)), "INVALID_ARGUMENT"),
            (lambda: self.client.get_model_metadata("nope"), "NOT_FOUND"),
            (lambda: self.client.get_model_config("nope"), "NOT_FOUND"),
        ]
        for call, status in cases:
            try:
                call()
            except InferenceServerException as exc:
                assert status in str(exc.status()), (status, exc.status(), exc.message())
            else:
                raise AssertionError(f"expected {status}")
        assert self.client.is_server_ready()

    def trace_settings(self) -> None:
        defaults = {
            "trace_level": ["OFF"], "trace_rate": ["1000"], "trace_count": ["-1"],
            "log_frequency": ["0"], "trace_mode": ["opentelemetry"],
        }  # fmt: skip

        def values(response: Any) -> dict[str, list[str]]:
            return {k: list(v.value) for k, v in response.settings.items()}

        assert values(self.client.get_trace_settings()) == defaults
        changed = self.client.update_trace_settings(
            settings={"trace_level": ["TIMESTAMPS", "TENSORS"], "trace_rate": "5"}
        )
        assert values(changed)["trace_level"] == ["TIMESTAMPS", "TENSORS"]
        own = self.client.update_trace_settings(model_name="mlp", settings={"trace_count": "3"})
        assert values(own) == {**defaults, "trace_level": ["TIMESTAMPS", "TENSORS"],
                               "trace_rate": ["5"], "trace_count": ["3"]}
        as_json = self.client.get_trace_settings(model_name="mlp", as_json=True)
        assert as_json["settings"]["trace_count"]["value"] == ["3"], as_json
        self.client.update_trace_settings(model_name="mlp", settings={"trace_count": None})
        cleared = self.client.update_trace_settings(
            settings={"trace_level": None, "trace_rate": None}
        )
        assert values(cleared) == defaults
        assert values(self.client.get_trace_settings(model_name="mlp")) == defaults
        for call, status in [
            (lambda: self.client.get_trace_settings(model_name="nope"), "NOT_FOUND"),
            (lambda: self.client.update_trace_settings(settings={"trace_level": ["X"]}),
             "INVALID_ARGUMENT"),
        ]:  # fmt: skip
            try:
                call()
            except InferenceServerException as exc:
                assert status in str(exc.status()), (status, exc.status(), exc.message())
            else:
                raise AssertionError(f"expected {status}")

    def log_settings(self) -> None:
        def values(response: Any) -> dict[str, Any]:
            return {
                k: getattr(v, v.WhichOneof("parameter_choice"))
                for k, v in response.settings.items()
            }

        before = values(self.client.get_log_settings())
        assert before == {
            "log_file": "", "log_info": True, "log_warning": True, "log_error": True,
            "log_verbose_level": 0, "log_format": "default",
        }, before  # fmt: skip
        changed = values(
            self.client.update_log_settings({"log_verbose_level": 1, "log_warning": False})
        )
        assert changed == {**before, "log_verbose_level": 1, "log_warning": False}
        assert values(self.client.get_log_settings()) == changed
        try:
            self.client.update_log_settings({"log_format": "fancy"})
        except InferenceServerException as exc:
            assert "INVALID_ARGUMENT" in str(exc.status()) and "log_format" in exc.message()
        else:
            raise AssertionError("expected INVALID_ARGUMENT")
        restored = self.client.update_log_settings({"log_verbose_level": 0, "log_warning": True})
        assert values(restored) == before

    def shared_memory(self) -> None:
        import tritonclient.utils.shared_memory as shm

        x = np.random.default_rng(3).random((2, 64), dtype=np.float32)
        size_in, size_out = x.nbytes, 2 * 10 * 4
        key = f"/mlos_grpc_flow_{os.getpid()}"
        region = shm.create_shared_memory_region("grpc_flow", key, size_in + size_out)
        try:
            shm.set_shared_memory_region(region, [x])
            self.client.register_system_shared_memory("grpc_flow", key, size_in + size_out)
            status = self.client.get_system_shared_memory_status(as_json=True)
            assert "grpc_flow" in json.dumps(status), status
            tensor = grpcclient.InferInput("input", [2, 64], "FP32")
            tensor.set_shared_memory("grpc_flow", size_in)
            output = grpcclient.InferRequestedOutput("output")
            output.set_shared_memory("grpc_flow", size_out, offset=size_in)
            result = self.client.infer("mlp", [tensor], outputs=[output])
            assert result.get_output("output") is not None
            got = shm.get_contents_as_numpy(region, np.float32, [2, 10], offset=size_in)
            (expected,) = self.reference("mlp", {"input": x}).values()
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        finally:
            self.client.unregister_system_shared_memory("grpc_flow")
            shm.destroy_shared_memory_region(region)
        status = self.client.get_system_shared_memory_status(as_json=True)
        assert "grpc_flow" not in json.dumps(status), status


FLOWS = [
    name for name in vars(Flows) if not name.startswith("_") and name not in ("reference", "infer")
]


def main(argv: list[str]) -> int:
    address, models, *wanted = argv
    flows = Flows(address, Path(models))
    results: dict[str, str] = {}
    for name in wanted or FLOWS:
        try:
            getattr(flows, name)()
        except Exception:
            results[name] = traceback.format_exc(limit=4)
        else:
            results[name] = "ok"
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
