"""Plugins whose host runs in an interpreter of their own: a second virtual environment made
here (no download: it reaches this environment's packages through a .pth file), two versions
of one plugin serving two models at once from the two interpreters, an upgrade that moves the
default version into the other environment, and `mlos plugin list` showing both versions and
where each runs."""

from __future__ import annotations

import json
import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest

from mlos.client import connect
from mlos.errors import AlreadyExists, FailedPrecondition, PermissionDenied
from mlos.testing import ServerProcess
from tests.suite import suite_config

V1 = "tests.sdk.echo_plugin:EchoPlugin"
V2 = "tests.sdk.swap_plugins:DoubleV2"


def make_venv(root: Path) -> Path:
    """A virtual environment at `root` whose site-packages adds this interpreter's."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    (packages,) = root.glob("lib/python*/site-packages")
    lines = [f"import site; site.addsitedir({p!r})" for p in site.getsitepackages()]
    (packages / "zz-parent-site.pth").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def venv_server(tmp_path: Path) -> ServerProcess:
    venv = make_venv(tmp_path / "env2")
    config = suite_config(tmp_path, executables=[venv])
    server = ServerProcess(tmp_path / "home", logs=tmp_path, config=config)
    server.start()
    server.venv = venv  # type: ignore[attr-defined]
    yield server  # type: ignore[misc]
    server.stop()


def interpreter_of(pid: int) -> str:
    return psutil.Process(pid).cmdline()[0]


def test_two_versions_of_one_plugin_from_two_interpreters_serve_at_once(
    venv_server: ServerProcess, tmp_path: Path
) -> None:
    venv: Path = venv_server.venv  # type: ignore[attr-defined]
    python = str(venv / "bin" / "python")
    client = connect(venv_server.url, token=venv_server.token, timeout=60)
    client.register_plugin("double", version="0.0.1", module=V1)
    beside = client.register_plugin("double", version="0.0.2", module=V2, python=str(venv))
    assert (beside.name, beside.registered_version, beside.default) == ("double", "0.0.2", False)
    with pytest.raises(AlreadyExists, match=r"'double' version '0\.0\.2'"):
        client.register_plugin("double", version="0.0.2", module=V2, python=str(venv))
    first, second = client.load_plugin("double"), client.load_plugin("double", "0.0.2")
    assert first.default and first.version == "0.0.1" and first.python == ""
    assert second.python == python and second.version == "0.0.2" and not second.default
    assert interpreter_of(second.pid) == python
    assert interpreter_of(first.pid) != python and first.pid != second.pid
    (tmp_path / "a.double").write_text("double")
    client.register_model("a", str(tmp_path / "a.double"), plugin="double")  # the default
    client.register_model("b", str(tmp_path / "a.double"), plugin="double@0.0.2")  # pinned
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    for model in ("a", "b"):
        np.testing.assert_array_equal(client.infer(model, {"x": x})["y"], 2 * x)
    assert list(client.get_plugin("double").models) == ["a/1"]
    assert list(client.get_plugin("double", "0.0.2").models) == ["b/1"]

    cli = [sys.executable, "-m", "mlos.cli", "plugin", "list", "--url", venv_server.url,
           "--token", venv_server.token or ""]  # fmt: skip
    table = subprocess.run(cli, capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [line for line in table.splitlines()[2:] if line.split()[0] == "double"]
    assert len(rows) == 2
    assert "0.0.1 (default)" in rows[0] and "(python" not in rows[0]
    assert "0.0.2" in rows[1] and "(default)" not in rows[1]
    assert f"(python {python})" in rows[1]
    listed = json.loads(subprocess.run([*cli, "--json"], capture_output=True, text=True,
                                       timeout=60, check=True).stdout)  # fmt: skip
    assert [
        (p["name"], p["registered_version"], p.get("default", False), p["python"], p["pid"] > 0)
        for p in listed["plugins"]
    ] == [("double", "0.0.1", True, "", True), ("double", "0.0.2", False, python, True)]

    # A version a model pins is not removed, nor replaced by an upgrade of the default.
    with pytest.raises(FailedPrecondition, match="b/1"):
        client.remove_plugin("double", "0.0.2")
    with pytest.raises(FailedPrecondition, match="registered beside"):
        client.upgrade_plugin("double", version="0.0.2", module=V2, python=str(venv))
    # An upgrade moves the default into the other environment, without failing its model;
    # the pinned version keeps its own process.
    moved = client.upgrade_plugin("double", version="0.0.1", module=V1, python=str(venv))
    assert moved.python == python and interpreter_of(moved.pid) == python and moved.default
    assert moved.pid != second.pid and client.get_plugin("double", "0.0.2").pid == second.pid
    for model in ("a", "b"):
        np.testing.assert_array_equal(client.infer(model, {"x": x})["y"], 2 * x)
    # The default moves to 0.0.2, and with it the model that follows the default.
    now = client.set_default_plugin("double", "0.0.2")
    assert now.default and sorted(now.models) == ["a/1", "b/1"]
    assert not client.get_plugin("double", "0.0.1").default
    assert client.get_plugin("double").registered_version == "0.0.2"
    for model in ("a", "b"):
        np.testing.assert_array_equal(client.infer(model, {"x": x})["y"], 2 * x)
    # The default is not removed while another version is registered; 0.0.1, unused now, is.
    with pytest.raises(FailedPrecondition, match="serves model"):
        client.remove_plugin("double", "0.0.2")
    client.remove_plugin("double", "0.0.1")
    assert [(p.registered_version, p.default) for p in client.list_plugins()] == [("0.0.2", True)]
    # An interpreter the configuration does not list is refused.
    with pytest.raises(PermissionDenied, match="plugin_executables"):
        client.register_plugin("third", module=V1, python=sys.executable)
    client.close()
