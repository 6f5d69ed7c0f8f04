"""Plugins whose host runs in an interpreter of their own: a second virtual environment made
here (no download: it reaches this environment's packages through a .pth file), two plugins
serving two models at once from the two interpreters, an upgrade that moves a plugin into the
other environment, and `mlos plugin list` showing where each runs."""

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
from mlos.errors import PermissionDenied
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


def test_two_plugins_from_two_interpreters_serve_at_once(
    venv_server: ServerProcess, tmp_path: Path
) -> None:
    venv: Path = venv_server.venv  # type: ignore[attr-defined]
    python = str(venv / "bin" / "python")
    client = connect(venv_server.url, token=venv_server.token, timeout=60)
    client.register_plugin("double", module=V1)
    client.register_plugin("double-next", module=V2, python=str(venv))
    first, second = client.load_plugin("double"), client.load_plugin("double-next")
    assert second.python == python and second.version == "0.0.2"
    assert interpreter_of(second.pid) == python
    assert interpreter_of(first.pid) != python and first.version == "0.0.1"
    (tmp_path / "a.double").write_text("double")
    client.register_model("a", str(tmp_path / "a.double"), plugin="double")
    client.register_model("b", str(tmp_path / "a.double"), plugin="double-next")
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    for model in ("a", "b"):
        np.testing.assert_array_equal(client.infer(model, {"x": x})["y"], 2 * x)

    cli = [sys.executable, "-m", "mlos.cli", "plugin", "list", "--url", venv_server.url,
           "--token", venv_server.token or ""]  # fmt: skip
    table = subprocess.run(cli, capture_output=True, text=True, timeout=60, check=True).stdout
    rows = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert "0.0.1" in rows["double"] and "(python" not in rows["double"]
    assert "0.0.2" in rows["double-next"] and f"(python {python})" in rows["double-next"]
    listed = json.loads(subprocess.run([*cli, "--json"], capture_output=True, text=True,
                                       timeout=60, check=True).stdout)  # fmt: skip
    assert {p["name"]: p["python"] for p in listed["plugins"]} == {
        "double": "", "double-next": python
    }

    # An upgrade moves "double" into the other environment, without failing its model.
    moved = client.upgrade_plugin("double", module=V2, python=str(venv))
    assert moved.python == python and interpreter_of(moved.pid) == python
    np.testing.assert_array_equal(client.infer("a", {"x": x})["y"], 2 * x)
    # An interpreter the configuration does not list is refused.
    with pytest.raises(PermissionDenied, match="plugin_executables"):
        client.register_plugin("third", module=V1, python=sys.executable)
    client.close()
