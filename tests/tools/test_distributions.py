"""The distributions of `make dist`: disjoint files, and an SDK that needs no server.

The SDK test stages the mlos-plugin-sdk distribution's files exactly as its wheel ships them and
imports every module of it in an isolated interpreter whose path holds only those files, numpy
and protobuf: a module that reached into the server would fail to import there.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("distributions", ROOT / "tools" / "distributions.py")
assert spec and spec.loader
distributions = importlib.util.module_from_spec(spec)
sys.modules["distributions"] = distributions
spec.loader.exec_module(distributions)

SERVER_ONLY = {
    "connexion", "uvicorn", "grpcio", "grpcio-health-checking", "sqlalchemy", "alembic",
    "psycopg", "starlette", "requests", "jsonschema", "jsonschema-rs", "psutil", "nvidia-ml-py",
    "pyyaml", "filelock", "tqdm",
}
SOURCE_TREES = {
    "mlos": ROOT / "mlos",
    "axon": ROOT / "axon",
    "mlos_generated": ROOT / "generated" / "mlos_generated",
    "mlos_conformance": ROOT / "conformance" / "mlos_conformance",
    "mlos_plugins": ROOT / "plugins" / "mlos_plugins",
}


def _project(name: str) -> dict[str, object]:
    text = (ROOT / "packaging" / name / "pyproject.toml").read_text(encoding="utf-8")
    project: dict[str, object] = tomllib.loads(text)["project"]
    return project


def _requirement_name(requirement: str) -> str:
    for stop in "<>=!~;[ ":
        requirement = requirement.split(stop)[0]
    return requirement.lower()


def test_every_source_file_ships_in_exactly_one_distribution() -> None:
    owners: dict[str, list[str]] = {}
    for dist in distributions.load().values():
        for destination in dist.files:
            owners.setdefault(destination, []).append(dist.name)
    shared = {path: names for path, names in owners.items() if len(names) > 1}
    assert shared == {}
    unowned = [
        f"{top}/{path.relative_to(tree).as_posix()}"
        for top, tree in SOURCE_TREES.items()
        for path in tree.rglob("*.py")
        if "__pycache__" not in path.parts
        and f"{top}/{path.relative_to(tree).as_posix()}" not in owners
    ]
    # mlos_plugins is a namespace package of the first-party plugins: no one ships its __init__.
    assert unowned == ["mlos_plugins/__init__.py"]


def test_versions_agree_and_the_server_depends_on_the_sdk() -> None:
    import mlos

    names = sorted(distributions.load())
    assert names == [
        "mlos-conformance", "mlos-plugin-onnx", "mlos-plugin-sdk", "mlos-plugin-tensorflow",
        "mlos-plugin-torch", "mlos-server",
    ]
    for name in names:
        assert _project(name)["version"] == mlos.__version__, name
    server = _project("mlos-server")["dependencies"]
    assert f"mlos-plugin-sdk=={mlos.__version__}" in server  # type: ignore[operator]


def test_sdk_and_plugins_pull_no_server_dependency() -> None:
    for name in ("mlos-plugin-sdk", "mlos-plugin-onnx", "mlos-plugin-torch",
                 "mlos-plugin-tensorflow"):
        requirements = {_requirement_name(r) for r in _project(name)["dependencies"]}  # type: ignore[attr-defined]
        assert requirements & SERVER_ONLY <= ({"pyyaml"} if name == "mlos-plugin-torch" else set())
        assert "mlos-server" not in requirements and "mlos" not in requirements
    example = tomllib.loads(
        (ROOT / "plugins/examples/mlos-plugin-numpy/pyproject.toml").read_text(encoding="utf-8")
    )["project"]["dependencies"]
    assert {_requirement_name(r) for r in example} == {"mlos-plugin-sdk", "numpy"}


SDK_IMPORTS = r"""
import importlib, pkgutil, sys
import mlos, mlos_generated
names = ["mlos", "mlos_generated"]
for package in (mlos, mlos_generated):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith(".__main__"):  # a command: importing it runs it
            names.append(info.name)
for name in names:
    importlib.import_module(name)
outside = sorted(
    name for name in sys.modules
    if name.split(".")[0] not in sys.stdlib_module_names
    and name.split(".")[0] not in {"__main__", "mlos", "mlos_generated", "numpy", "google"}
)
print(len(names), "modules;", "outside:", outside)
assert not any(m.startswith("google.") and not m.startswith("google.protobuf") for m in sys.modules)
"""


@pytest.fixture(scope="module")
def sdk_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The SDK's files as its wheel ships them, and a directory with only numpy and protobuf."""
    sdk = distributions.stage(
        distributions.load()["mlos-plugin-sdk"], tmp_path_factory.mktemp("sdk") / "tree"
    )
    deps = tmp_path_factory.mktemp("deps")
    import google.protobuf
    import numpy

    numpy_dir = Path(numpy.__file__).parent
    (deps / "numpy").symlink_to(numpy_dir)
    libs = numpy_dir.parent / "numpy.libs"
    if libs.is_dir():
        (deps / "numpy.libs").symlink_to(libs)
    (deps / "google").mkdir()
    (deps / "google" / "protobuf").symlink_to(Path(google.protobuf.__file__).parent)
    return sdk, deps


def _isolated(sdk_env: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    sdk, deps = sdk_env
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{sdk}{os.pathsep}{deps}"}
    # -S: no site-packages at all (the server's dependencies live there); -E is not used so
    # that PYTHONPATH applies, and the environment holds nothing else.
    return subprocess.run(
        [sys.executable, "-S", *args], env=env, cwd=sdk, capture_output=True, text=True,
        timeout=120,
    )


def test_the_sdk_imports_with_numpy_and_protobuf_alone(sdk_env: tuple[Path, Path]) -> None:
    result = _isolated(sdk_env, "-c", SDK_IMPORTS)
    assert result.returncode == 0, result.stderr
    assert "outside: []" in result.stdout, result.stdout
    count = int(result.stdout.split()[0])
    assert count >= 20  # every module of mlos.sdk, mlos.wire and the rest, not a handful


def test_the_plugin_host_runs_from_the_sdk_alone(sdk_env: tuple[Path, Path]) -> None:
    result = _isolated(sdk_env, "-m", "mlos.sdk.host", "--help")
    assert result.returncode == 0, result.stderr
    assert "--entry-point" in result.stdout
