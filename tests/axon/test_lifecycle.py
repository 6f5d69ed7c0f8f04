"""Registry lifecycle: yank (hidden from resolution and search, installable by exact version)
and delete (admin, with a plan), over HTTP and on a file:// registry."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest

from axon.registry_tokens import create_token, default_tokens_file
from tests.axon.conftest import Cli, RegistryServer, make_package_dir


@pytest.fixture(params=["http", "file"])
def registry(request: pytest.FixtureRequest, tmp_path: pathlib.Path, cli: Cli,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, pathlib.Path]]:
    """A default registry 'team' holding team/m@1.0.0 and 1.1.0; (kind, directory)."""
    if request.param == "http":
        server: RegistryServer = request.getfixturevalue("registry_server")
        monkeypatch.setenv("AXON_REGISTRY_TOKEN_TEAM", server.token)
        url, root = server.url, server.root
    else:
        root = tmp_path / "file-registry"
        root.mkdir()
        url = root.as_uri()
    cli("registry", "add", "team", url, "--default")
    for version, width in (("1.0.0", 4), ("1.1.0", 6)):
        src = make_package_dir(tmp_path / version, "team", "m", version, width=width)
        assert cli("publish", str(src))[0] == 0
    yield request.param, root


def test_yank_hides_a_version_but_exact_installs_work(cli: Cli,
                                                      registry: tuple[str, pathlib.Path]) -> None:
    code, out, err = cli("yank", "team/m@1.1.0", "--reason", "wrong labels", "--json")
    assert code == 0, err
    assert json.loads(out) == {"version": "1.1.0", "yanked": True, "yanked_reason": "wrong labels",
                               "package": json.loads(out)["package"]}
    [found] = json.loads(cli("search", "m", "--json")[1])
    assert found["latest"] == "1.0.0" and found["versions"] == ["1.0.0"]
    code, out, _ = cli("install", "team/m", "--json")
    assert json.loads(out)[0]["version"] == "1.0.0"
    code, _, err = cli("install", "team/m@^1.1")
    assert code == 1 and "yanked: 1.1.0 (install one by exact version)" in err
    code, out, err = cli("install", "team/m@1.1.0", "--json")
    assert code == 0 and json.loads(out)[0]["version"] == "1.1.0"
    assert "axon: warning: team/m@1.1.0 is yanked: wrong labels" in err
    info = json.loads(cli("info", "team/m@1.1.0", "--json")[1])
    assert info["versions"] == ["1.0.0", "1.1.0"] and info["yanked"] == ["1.1.0"]
    assert "1.1.0 (yanked)" in cli("info", "team/m@1.1.0")[1]
    assert cli("yank", "team/m@1.1.0", "--undo")[0] == 0
    assert json.loads(cli("search", "m", "--json")[1])[0]["latest"] == "1.1.0"
    code, _, err = cli("yank", "team/m@^1")
    assert code == 1 and "name an exact version" in err


def test_every_version_yanked_leaves_search(cli: Cli, registry: tuple[str, pathlib.Path]) -> None:
    for version in ("1.0.0", "1.1.0"):
        assert cli("yank", f"team/m@{version}")[0] == 0
    assert json.loads(cli("search", "--json")[1]) == []
    code, _, err = cli("install", "team/m")
    assert code == 1 and "available: none" in err


def test_delete_shows_a_plan_and_needs_admin(cli: Cli, registry: tuple[str, pathlib.Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    kind, root = registry
    if kind == "http":
        code, _, err = cli("registry", "delete", "team/m@1.1.0")
        assert code == 1 and "refused" in err
        admin = create_token(default_tokens_file(root), "admin", "admin")
        monkeypatch.setenv("AXON_REGISTRY_TOKEN_TEAM", admin)
    code, out, _ = cli("registry", "delete", "team/m@1.1.0", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["deleted"] is False
    paths = [item["path"] for item in plan["items"]]
    assert paths[0] == "models/team/m/1.1.0" and paths[1].startswith("blobs/sha256/")
    assert (root / paths[1]).is_file()
    code, out, _ = cli("registry", "delete", "team/m@1.1.0", "--json")
    assert code == 0 and json.loads(out)["total_bytes"] == plan["total_bytes"]
    assert not (root / paths[0]).exists() and not (root / paths[1]).exists()
    code, _, err = cli("install", "team/m@1.1.0")
    assert code == 1 and "no version of team/m matches '1.1.0'" in err
    assert json.loads(cli("search", "--json")[1])[0]["versions"] == ["1.0.0"]
    cli("registry", "delete", "team/m@1.0.0")
    assert json.loads(cli("search", "--json")[1]) == []
    assert not (root / "models" / "team" / "m").exists()
