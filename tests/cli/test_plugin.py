"""`mlos plugin ...` in-process against the fake client."""

from __future__ import annotations

import json

from tests.cli.conftest import Run
from tests.cli.fake_client import FakeClient


def test_register_passes_the_source(run: Run, fake: FakeClient) -> None:
    result = run("plugin", "register", "mine", "--version", "2", "--module", "pkg.mod:Plugin")
    assert result.code == 0
    assert fake.calls[-1] == ("register_plugin", ("mine", "2", None, "pkg.mod:Plugin", None))
    assert result.out == "registered plugin mine 2: registered\n"


def test_register_with_load_starts_the_process(run: Run, fake: FakeClient) -> None:
    result = run("plugin", "register", "mine", "--module", "pkg.mod:Plugin", "--load")
    assert result.code == 0
    assert [call[0] for call in fake.calls[-2:]] == ["register_plugin", "load_plugin"]
    assert result.out == "registered and loaded plugin mine: ready (pid 77)\n"


def test_list_table_and_json(run: Run) -> None:
    result = run("plugin", "list")
    lines = result.out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "STATE", "PID", "RESTARTS", "MODELS", "SOURCE"]
    assert lines[2].split() == ["onnx", "0.1.0", "ready", "42", "0", "1", "entry", "point", "onnx"]
    document = json.loads(run("plugin", "list", "--json").out)
    assert [p["name"] for p in document["plugins"]] == ["onnx"]
    assert document["plugins"][0]["source"] == {"entry_point": "onnx"}


def test_list_empty(run: Run, fake: FakeClient) -> None:
    fake.plugins.clear()
    assert "no plugins registered" in run("plugin", "list").out
    assert json.loads(run("plugin", "list", "--json").out) == {"plugins": []}


def test_show(run: Run) -> None:
    out = run("plugin", "show", "onnx").out
    assert "state:           ready" in out
    assert "smi versions:    1.0" in out
    assert "models:          demo/1" in out


def test_load_unload_remove(run: Run, fake: FakeClient) -> None:
    assert run("plugin", "unload", "onnx").out == "unloaded plugin onnx 0.1.0: unloaded\n"
    assert run("plugin", "load", "onnx").out == "loaded plugin onnx 0.1.0: ready (pid 77)\n"
    assert json.loads(run("plugin", "load", "onnx", "--json").out)["pid"] == 77
    assert run("plugin", "remove", "onnx").out == "removed plugin onnx\n"
    assert "onnx" not in fake.plugins
