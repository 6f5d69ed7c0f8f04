"""Every command through the CLI, against the project's registry server and a file:// one."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest

from tests.axon.conftest import Cli, RegistryServer, make_onnx


@pytest.fixture(params=["http", "file"])
def registry(request: pytest.FixtureRequest, tmp_path: pathlib.Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """URL of a writable registry; for HTTP the write token comes from the environment."""
    if request.param == "http":
        server: RegistryServer = request.getfixturevalue("registry_server")
        monkeypatch.setenv("AXON_REGISTRY_TOKEN_TEAM", server.token)
        yield server.url
    else:
        root = tmp_path / "file-registry"
        root.mkdir()
        yield root.as_uri()


def test_full_publisher_and_consumer_flow(cli: Cli, registry: str, tmp_path: pathlib.Path,
                                          axon_home: pathlib.Path) -> None:
    model = make_onnx(tmp_path / "work" / "model.onnx")
    code, out, _ = cli("init", str(model), "--namespace", "team", "--name", "matmul",
                       "--version", "1.0.0")
    assert code == 0 and "wrote" in out
    assert cli("validate", str(model.parent / "manifest.yaml"))[0] == 0
    code, out, _ = cli("pack", str(model.parent), "-o", str(tmp_path / "dist") + "/", "--json")
    packed = json.loads(out)
    assert code == 0 and packed["path"].endswith("team-matmul-1.0.0.axon")

    assert cli("registry", "add", "team", registry, "--default")[0] == 0
    code, out, _ = cli("publish", packed["path"], "--json")
    assert code == 0 and json.loads(out)["created"] is True
    code, out, _ = cli("publish", packed["path"])
    assert code == 0 and out.startswith("already published team/matmul@1.0.0")

    code, out, _ = cli("search", "matmul", "--json")
    assert [m["name"] for m in json.loads(out)] == ["matmul"]
    code, out, _ = cli("search", "nothing-like-this")
    assert code == 0 and "no models found" in out
    code, out, _ = cli("info", "team/matmul", "--json")
    info = json.loads(out)
    assert info["versions"] == ["1.0.0"] and info["installed"] is False
    assert info["manifest"]["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]

    code, out, _ = cli("install", "team/matmul@^1", "--json")
    [installed] = json.loads(out)
    assert code == 0 and installed["version"] == "1.0.0" and installed["status"] == "installed"
    assert pathlib.Path(installed["path"], "model.onnx").read_bytes() == model.read_bytes()
    code, out, _ = cli("list")
    assert "team/matmul" in out and "1.0.0" in out
    assert json.loads(cli("cache", "ls", "--json")[1])[0]["ref"] == "team/matmul@1.0.0"
    assert cli("verify", "team/matmul")[0] == 0
    code, out, _ = cli("cache", "verify", "--json")
    assert code == 0 and json.loads(out) == {"checked": 2, "ok": True, "problems": []}
    code, out, _ = cli("info", "team/matmul", "--offline")
    assert code == 0 and "(installed)" in out

    code, out, _ = cli("remove", "team/matmul", "--dry-run", "--json")
    plan = json.loads(out)
    assert plan["executed"] is False and plan["total_bytes"] > 0
    assert pathlib.Path(installed["path"]).exists()
    code, out, _ = cli("remove", "team/matmul@1.0.0")
    assert code == 0 and "freed" in out and not pathlib.Path(installed["path"]).exists()
    assert json.loads(cli("list", "--json")[1]) == []
    code, _, err = cli("remove", "team/matmul")
    assert code == 1 and err == "axon: error: team/matmul is not installed\n"


def test_cache_verify_reports_corruption(cli: Cli, tmp_path: pathlib.Path) -> None:
    model = make_onnx(tmp_path / "w" / "model.onnx")
    cli("init", str(model), "--namespace", "t")
    code, out, _ = cli("install", str(model.parent), "--json")
    path = pathlib.Path(json.loads(out)[0]["path"]) / "model.onnx"
    path.write_bytes(b"tampered")
    code, out, _ = cli("verify")
    assert code == 1 and "model.onnx does not match its manifest digest" in out


def test_gc_removes_leftovers_and_honours_dry_run(cli: Cli, tmp_path: pathlib.Path,
                                                  axon_home: pathlib.Path) -> None:
    model = make_onnx(tmp_path / "w" / "model.onnx")
    cli("init", str(model), "--namespace", "t")
    cli("install", str(model.parent))
    cache = axon_home / "cache"
    (cache / "tmp" / "sha256-abc.partial").write_bytes(b"1234")
    orphan = cache / "models" / "t" / "gone" / "1.0.0"
    orphan.mkdir(parents=True)
    (orphan / "f").write_bytes(b"12345678")
    code, out, _ = cli("cache", "gc", "--dry-run", "--json")
    plan = json.loads(out)
    assert plan["total_bytes"] == 12 and plan["executed"] is False
    assert {pathlib.Path(i["path"]).name for i in plan["items"]} == {"sha256-abc.partial",
                                                                     "1.0.0"}
    assert orphan.exists()
    code, out, _ = cli("cache", "gc")
    assert code == 0 and "freed 12 B" in out and not orphan.exists()
    assert json.loads(cli("list", "--json")[1])[0]["ref"] == "t/model@0.1.0"


def test_http_publish_needs_a_write_token(cli: Cli, registry_server: RegistryServer,
                                          tmp_path: pathlib.Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_onnx(tmp_path / "w" / "model.onnx")
    cli("init", str(model), "--namespace", "t")
    cli("registry", "add", "srv", registry_server.url)
    code, _, err = cli("publish", str(model.parent))
    assert code == 1 and "refused" in err and "token" in err
    monkeypatch.setenv("AXON_REGISTRY_TOKEN_SRV", "axon_wrong")
    assert cli("publish", str(model.parent))[0] == 1
    monkeypatch.setenv("AXON_REGISTRY_TOKEN_SRV", registry_server.token)
    assert cli("publish", str(model.parent))[0] == 0
    (model.parent / "manifest.yaml").write_text(
        (model.parent / "manifest.yaml").read_text().replace("model model", "changed"))
    code, _, err = cli("publish", str(model.parent))
    assert code == 1 and "already published with other content" in err
    assert registry_server.token not in err


def test_registry_commands_never_print_credentials(cli: Cli) -> None:
    assert cli("registry", "add", "a", "https://user:s3cret@example.com/reg",
               "--token", "tok-123", "--mirror", "https://m:pw@mirror.example.com")[0] == 0
    assert cli("registry", "add", "b", "file:///tmp/none")[0] == 0
    code, out, _ = cli("registry", "list")
    assert "s3cret" not in out and "tok-123" not in out and "pw@" not in out
    assert "https://***@example.com/reg" in out
    rows = json.loads(cli("registry", "list", "--json")[1])
    assert [(r["name"], r["token"], r["default"]) for r in rows] == [
        ("a", True, False), ("b", False, False)]
    assert cli("registry", "set-default", "b")[0] == 0
    assert [r["default"] for r in json.loads(cli("registry", "list", "--json")[1])] == [
        False, True]
    assert cli("registry", "remove", "b")[0] == 0
    code, _, err = cli("registry", "remove", "b")
    assert code == 1 and "no registry named 'b'" in err
    code, _, err = cli("registry", "add", "c", "ftp://x")
    assert code == 1 and "http://, https:// or file://" in err


def test_config_commands(cli: Cli, monkeypatch: pytest.MonkeyPatch,
                         axon_home: pathlib.Path) -> None:
    assert cli("config", "get", "timeout")[1] == "30.0\n"
    assert cli("config", "set", "timeout", "5")[0] == 0
    assert json.loads(cli("config", "get", "timeout", "--json")[1]) == {
        "key": "timeout", "value": 5.0, "source": "file"}
    monkeypatch.setenv("AXON_TIMEOUT", "7")
    assert json.loads(cli("config", "get", "timeout", "--json")[1])["source"] == "env"
    code, _, err = cli("config", "set", "offline", "maybe")
    assert code == 1 and "not a boolean" in err
    rows = {r["key"]: r for r in json.loads(cli("config", "list", "--json")[1])}
    assert rows["timeout"]["value"] == 7.0 and rows["cache_dir"]["env"] == "AXON_CACHE_DIR"
    assert cli("config", "unset", "timeout")[0] == 0
    monkeypatch.setenv("AXON_CACHE_DIR", str(axon_home / "elsewhere"))
    assert cli("cache", "path")[1].strip() == str(axon_home / "elsewhere")


def test_user_mistakes_are_one_line_errors(cli: Cli, tmp_path: pathlib.Path) -> None:
    cases = [
        (("install", "Not A Ref"), "is not a model reference"),
        (("install", "x/y"), "no registry configured"),
        (("install", "x/y", "--offline"), "not in the cache and offline mode is on"),
        (("install", str(tmp_path / "missing.axon")), "no such package file"),
        (("pack", str(tmp_path)), "no manifest"),
        (("init", str(tmp_path / "nope.onnx")), "no such model file"),
        (("deploy", "x/y"), "x/y@latest is not installed"),
        (("info", "x/y@>=banana"), "not a version or version range"),
    ]
    for args, message in cases:
        code, out, err = cli(*args)
        assert code != 0, args
        assert err.count("\n") == 1 and err.startswith("axon: error:") and message in err, err
        assert "Traceback" not in err + out


def test_demo_registry_installs_offline(cli: Cli, axon_home: pathlib.Path) -> None:
    code, out, _ = cli("registry", "demo", "--json")
    demo = json.loads(out)
    assert code == 0 and "demo/mlp@1.1.0" in demo["models"]
    code, out, _ = cli("install", "demo/mlp@1.0", "demo/identity", "--json")
    assert code == 0
    assert [r["ref"] for r in json.loads(out)] == ["demo/mlp@1.0.0", "demo/identity@1.0.0"]
    assert cli("validate", json.loads(out)[0]["path"])[0] == 0
