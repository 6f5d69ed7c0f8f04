"""End to end: a SavedModel the TF2 loader cannot restore, served over REST by a real server.

One `mlos serve` (its own process, loopback, random port) runs the tensorflow plugin in a
process of its own. The export's object graph holds optimizer slots, so the plugin falls back
to the TF1 session loader: the model configuration says so, answers match numpy, and loading
and unloading it 30 times keeps the plugin process's memory where it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.plugins.served import Served, served
from tests.plugins.tensorflow import nets

pytestmark = pytest.mark.timeout(600)

X = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
CYCLES = 30
#: Each load of the large export takes about 14 MiB; 30 leaked loads would be about 400 MiB.
RSS_BOUND = 64 * 2**20


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # the tests write their exports under their own tmp_path: all under the base temp folder
    with served(tmp_path_factory.mktemp("served-v1"), tmp_path_factory.getbasetemp()) as running:
        assert running.load_plugin("tensorflow")["state"] == "ready"
        yield running


def test_fallback_model_over_rest(node: Served, tmp_path: Path) -> None:
    path, weights = nets.save_slot_export(tmp_path / "trained")
    status = node.register_model("trained", path)  # the plugin chosen from saved_model.pb
    assert status["plugin"] == "tensorflow"
    metadata = node.metadata("trained")
    assert metadata["platform"] == "tensorflow_savedmodel"
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert sorted(metadata["outputs"], key=lambda o: o["name"]) == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "logits", "datatype": "FP32", "shape": [-1, 3]},
    ]
    parameters = node.request("GET", "/v2/models/trained/config")["parameters"]
    assert parameters["loader"] == {"string_value": "v1"}
    assert "add_slot" in parameters["loader_fallback_reason"]["string_value"]
    result = node.infer("trained", {"x": X})
    expected = weights(X)
    np.testing.assert_allclose(result["logits"], expected["logits"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result["label"], expected["label"])
    node.remove_model("trained")


def test_load_unload_cycles_return_the_memory(node: Served, tmp_path: Path) -> None:
    path, _ = nets.save_slot_export(tmp_path / "large", hidden=2**17)
    process = psutil.Process(node.plugin_pid("tensorflow"))

    def cycle() -> None:
        node.register_model("large", path, plugin="tensorflow")
        assert node.infer("large", {"x": X})["logits"].shape == (3, 3)
        node.remove_model("large")

    cycle()  # warm the plugin up
    before = process.memory_info().rss
    for _ in range(CYCLES):
        cycle()
    after = process.memory_info().rss
    print(f"\ntensorflow (TF1 session loader): RSS {before / 2**20:.1f} MiB before, "
          f"{after / 2**20:.1f} MiB after {CYCLES} load/unload cycles")
    assert after - before < RSS_BOUND, f"grew {(after - before) / 2**20:.1f} MiB"
