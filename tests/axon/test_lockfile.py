"""`axon lock` and `axon install --locked`: exact versions and digests, or a failure."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.axon.conftest import Cli, make_package_dir


@pytest.fixture
def registry(cli: Cli, tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "registry"
    root.mkdir()
    cli("registry", "add", "team", root.as_uri(), "--default")
    return root


def publish(cli: Cli, tmp_path: pathlib.Path, version: str, width: int) -> None:
    src = make_package_dir(tmp_path / f"src-{version}", "team", "m", version, width=width)
    assert cli("publish", str(src))[0] == 0


def test_lock_then_install_exactly_that(cli: Cli, registry: pathlib.Path, tmp_path: pathlib.Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    publish(cli, tmp_path, "1.0.0", 4)
    publish(cli, tmp_path, "1.1.0", 6)
    code, out, err = cli("lock", "team/m@^1.0", "--json")
    assert code == 0, err
    [entry] = json.loads(out)["models"]
    assert entry["ref"] == "team/m@1.1.0" and entry["spec"] == "^1.0"
    assert (tmp_path / "axon.lock").read_text().startswith("# Written by `axon lock`")
    publish(cli, tmp_path, "1.2.0", 8)
    cli("yank", "team/m@1.1.0")
    code, out, err = cli("install", "--locked", "--json")
    assert code == 0, err
    [installed] = json.loads(out)
    assert installed["ref"] == "team/m@1.1.0" and installed["sha256"] == entry["sha256"]
    assert cli("install", "--locked")[0] == 0  # already installed, same digest

    # The installed copy replaced by other bytes: refused until --force.
    other = make_package_dir(tmp_path / "other", "team", "m", "1.1.0", width=5)
    assert cli("install", str(other), "--force")[0] == 0
    code, _, err = cli("install", "--locked")
    assert code == 1 and "the lock file says" in err
    assert cli("install", "--locked", "--force")[0] == 0
    assert json.loads(cli("list", "--json")[1])[0]["sha256"] == entry["sha256"]

    # Re-lock: the spec resolves again, to the newest non-yanked version.
    code, out, _ = cli("lock", "--json")
    assert json.loads(out)["models"][0]["ref"] == "team/m@1.2.0"


def test_a_registry_with_other_bytes_for_a_locked_version_is_refused(
        cli: Cli, registry: pathlib.Path, tmp_path: pathlib.Path) -> None:
    publish(cli, tmp_path, "1.0.0", 4)
    lock = tmp_path / "pins.lock"
    assert cli("lock", "team/m", "-o", str(lock))[0] == 0
    index_path = registry / "models" / "team" / "m" / "index.json"
    index = json.loads(index_path.read_text())
    index["versions"][0]["package"]["sha256"] = "f" * 64
    index_path.write_text(json.dumps(index))
    code, _, err = cli("install", "--locked", "--lock-file", str(lock))
    assert code == 1 and "has another package for team/m@1.0.0" in err
    assert json.loads(cli("list", "--json")[1]) == []


@pytest.mark.parametrize("text,message", [
    ("lock_version: 1\nmodels:\n- ref: team/m@^1\n  sha256: x\n  size: 1\n", "exact version"),
    ("lock_version: 1\nmodels:\n- ref: team/m@1.0.0\n  sha256: x\n  size: 1\n", "sha256"),
    ("models: []\n", "not an axon lock file"),
    ("a: &x [1]\nb: *x\n", "aliases"),
])
def test_bad_lock_files_are_one_line_errors(cli: Cli, tmp_path: pathlib.Path, text: str,
                                            message: str) -> None:
    path = tmp_path / "bad.lock"
    path.write_text(text)
    code, _out, err = cli("install", "--locked", "--lock-file", str(path))
    assert code == 1 and err.count("\n") == 1 and message in err, err
    code, _, err = cli("install", "--locked", "--lock-file", str(tmp_path / "none.lock"))
    assert code == 1 and "no lock file" in err
