"""Signed packages: generate a key, sign, publish, install trusted / untrusted / tampered."""

from __future__ import annotations

import json
import pathlib

import pytest

from axon.digest import sha256_file
from axon.package import pack
from axon.signing import PublicKey, SignatureError, SignatureRecord, sign, statement, verify
from tests.axon.conftest import Cli, RegistryServer, make_package_dir


def home(monkeypatch: pytest.MonkeyPatch, path: pathlib.Path) -> None:
    monkeypatch.setenv("AXON_HOME", str(path))


def test_signed_package_flow(cli: Cli, registry_server: RegistryServer, tmp_path: pathlib.Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXON_REGISTRY_TOKEN_TEAM", registry_server.token)
    # The publisher: a key, a signed publish.
    home(monkeypatch, tmp_path / "publisher")
    cli("registry", "add", "team", registry_server.url, "--default")
    code, out, _ = cli("key", "generate", "team-key", "--json")
    assert code == 0
    public = json.loads(out)["public_key"]
    src = make_package_dir(tmp_path / "src", "team", "signed", "1.0.0")
    code, out, err = cli("publish", str(src), "--sign", "--json")
    assert code == 0, err
    published = json.loads(out)
    assert published["signed_by"] == [PublicKey.parse(public).key_id]
    unsigned = make_package_dir(tmp_path / "src2", "team", "unsigned", "1.0.0")
    assert cli("publish", str(unsigned))[0] == 0

    # A consumer who requires signatures: untrusted, then trusted.
    home(monkeypatch, tmp_path / "consumer")
    cli("registry", "add", "team", registry_server.url, "--default")
    assert cli("config", "set", "require_signatures", "true")[0] == 0
    code, _, err = cli("install", "team/signed")
    assert code == 1 and "signed only by keys you do not trust" in err
    code, _, err = cli("install", "team/unsigned")
    assert code == 1 and "is not signed, and require_signatures is on" in err
    assert cli("key", "trust", public, "--name", "team")[0] == 0
    code, out, err = cli("install", "team/signed", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["signed_by"] == [published["signed_by"][0]]
    keys = json.loads(cli("key", "list", "--json")[1])
    assert [(k["name"], k["private"], k["trusted"]) for k in keys] == [("team", False, True)]

    # Tampering: the registry's package, manifest and index replaced, consistently.
    forged = pack(make_package_dir(tmp_path / "forged", "team", "signed", "1.0.0", width=8),
                  tmp_path / "forged.axon")
    _replace(registry_server.root, forged.path, forged.manifest.to_dict())
    assert cli("remove", "team/signed")[0] == 0
    for require in ("true", "false"):
        cli("config", "set", "require_signatures", require)
        code, _, err = cli("install", "team/signed")
        assert code == 1 and "does not match" in err, err
    assert json.loads(cli("list", "--json")[1]) == []
    cli("key", "untrust", "team")
    assert cli("install", "team/signed")[0] == 0  # unsigned as far as this user can tell


def _replace(root: pathlib.Path, package: pathlib.Path, manifest: dict[str, object]) -> None:
    """What a compromised registry could do: swap the bytes and fix up manifest and index."""
    digest, size = sha256_file(package)
    (root / "blobs" / "sha256" / digest).write_bytes(package.read_bytes())
    folder = root / "models" / "team" / "signed"
    (folder / "1.0.0" / "manifest.json").write_text(json.dumps(manifest))
    index = json.loads((folder / "index.json").read_text())
    index["versions"][0]["package"] = {"sha256": digest, "size": size}
    (folder / "index.json").write_text(json.dumps(index))


def test_local_packages_carry_signatures_in_a_sidecar(cli: Cli, tmp_path: pathlib.Path) -> None:
    assert cli("key", "generate", "me")[0] == 0
    assert cli("config", "set", "require_signatures", "true")[0] == 0
    src = make_package_dir(tmp_path / "src", "local", "thing", "1.0.0")
    code, out, _ = cli("pack", str(src), "-o", str(tmp_path / "dist") + "/", "--sign",
                       "--json")
    packed = json.loads(out)
    assert code == 0 and pathlib.Path(packed["signature"]).is_file()
    sig = pathlib.Path(packed["signature"])
    saved = sig.read_bytes()
    sig.unlink()
    code, _, err = cli("install", packed["path"])
    assert code == 1 and "is not signed" in err
    sig.write_bytes(saved)
    code, _, err = cli("install", packed["path"])
    assert code == 0, err


def test_verify_uses_the_trusted_key_not_the_one_in_the_record() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    trusted_private, impostor = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    data = statement("a", "b", "1.0.0", "0" * 64, 10)
    good = sign(trusted_private, data)
    trusted = {good.key_id: good.public_key}
    assert verify([good.to_dict()], data, trusted, True, "a/b@1.0.0") == (good.key_id,)
    forged = SignatureRecord(good.key_id, good.public_key, impostor.sign(data)).to_dict()
    with pytest.raises(SignatureError, match="does not match"):
        verify([forged], data, trusted, False, "a/b@1.0.0")
    relabelled = dict(forged, public_key=PublicKey.of(impostor).b64)
    with pytest.raises(SignatureError, match="malformed"):
        verify([relabelled], data, trusted, False, "a/b@1.0.0")
    other = statement("a", "b", "1.0.1", "0" * 64, 10)
    with pytest.raises(SignatureError, match="does not match"):
        verify([good.to_dict()], other, trusted, False, "a/b@1.0.1")
    stranger = sign(impostor, data).to_dict()
    assert verify([stranger], data, trusted, False, "a/b@1.0.0") == ()
