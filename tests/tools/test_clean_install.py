"""A third-party author's first minutes, in a virtual environment that holds nothing of ours.

The SDK, server and kit wheels are built here by the project's packaging (tools/distributions.py,
as `make dist` does); their third-party dependencies are packed from this environment by
tools/wheelhouse.py, so nothing is fetched. A clean `python -m venv` (no system site-packages)
then installs the SDK alone, which must pull numpy and protobuf and nothing else; then the kit;
and then, as an author would type it:

    mlos plugin new demo && pip install ./demo && mlos conformance --entry-point demo

Every pip call runs with `--no-index --find-links WHEELHOUSE` (as PIP_* variables, so that the
commands stay as written and pip's isolated builds see them too).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)


def _tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


distributions = _tool("distributions")
wheelhouse = _tool("wheelhouse")

OURS = ("mlos-plugin-sdk", "mlos-server", "mlos-conformance")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory with our wheels and every third-party wheel they need, built offline."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    requirements = [wheelhouse.Requirement(text) for text in ("setuptools>=77", "wheel")]
    for name in OURS:
        requirements += wheelhouse.project_requirements(name)
    for dist in wheelhouse.closure(requirements, skip=OURS):
        wheelhouse.pack(dist, directory)
    staging = tmp_path_factory.mktemp("staging")
    known = distributions.load()
    with pytest.MonkeyPatch.context() as patch:
        # The isolated builds install setuptools and wheel from the wheelhouse too.
        patch.setenv("PIP_NO_INDEX", "1")
        patch.setenv("PIP_FIND_LINKS", str(directory))
        for name in OURS:
            source = distributions.stage(known[name], staging / name)
            distributions.build(source, directory, isolation=True, wheel_only=True)
    yield directory


def _env(venv: Path, wheels: Path, home: Path) -> dict[str, str]:
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home), "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CACHE_DIR": str(home / "pip-cache"),
    }


def _sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def _installed(python: Path, env: dict[str, str]) -> set[str]:
    listing = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
    return {entry["name"].lower() for entry in json.loads(listing)}


def test_new_plugin_installs_and_passes_the_kit_in_a_clean_venv(
    wheels: Path, tmp_path: Path
) -> None:
    assert {path.name.split("-")[0] for path in wheels.glob("mlos*.whl")} == {
        "mlos_plugin_sdk", "mlos_server", "mlos_conformance"}
    venv, work, home = tmp_path / "venv", tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    python = venv / "bin" / "python"
    env = _env(venv, wheels, home)
    infrastructure = _installed(python, env)

    # The SDK alone: numpy and protobuf, nothing of the server.
    _sh("pip install -q mlos-plugin-sdk", work, env)
    assert _installed(python, env) - infrastructure == {"mlos-plugin-sdk", "numpy", "protobuf"}

    _sh("pip install -q mlos-conformance && pip check", work, env)
    assert {"mlos-conformance", "mlos-server"} <= _installed(python, env)

    # As an author types it.
    _sh("mlos plugin new demo && pip install ./demo && mlos conformance --entry-point demo",
        work, env)
    # The plugin's own distribution needs the SDK, not the server.
    shown = _sh("pip show mlos-plugin-demo", work, env).stdout
    assert "Requires: mlos-plugin-sdk, numpy" in shown
    # Everything comes from the clean environment, nothing from this checkout.
    where = _sh("python -c 'import mlos, mlos_conformance, mlos_plugin_demo as d; "
                "print(mlos.__file__, mlos_conformance.__file__, d.__file__)'", work, env).stdout
    assert all(path.startswith(str(venv)) for path in where.split()), where
    missing = subprocess.run([str(python), "-c", "import mlos_numpy_plugin"], env=env,
                             cwd=work, capture_output=True, timeout=60)
    assert missing.returncode != 0

    # With the generated fixtures every check runs, and the JUnit report says so.
    kit = _sh("mlos conformance --entry-point demo --fixtures demo/fixtures --json "
              "--junit conformance.xml", work, env)
    report = json.loads(kit.stdout)
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert report["ok"] and outcomes["infer.fixtures"] == "pass", outcomes
    assert set(outcomes.values()) == {"pass"}
    junit = (work / "conformance.xml").read_text(encoding="utf-8")
    assert f'tests="{len(outcomes)}"' in junit and 'failures="0"' in junit
