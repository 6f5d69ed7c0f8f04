"""Tokens end to end: the first start's admin token, the CLI, rate limits, the audit log and
development without auth."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mlos.config import ConfigError, Settings
from mlos.testing import ServerProcess


def _mlos(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlos.cli", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )


def test_first_start_writes_an_owner_only_admin_token(mlos_server: ServerProcess) -> None:
    path = mlos_server.home / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert token.startswith("mlos_")
    assert requests.get(f"{mlos_server.url}/v1/health", timeout=10).status_code == 401
    health = requests.get(
        f"{mlos_server.url}/v1/health", headers=mlos_server.auth_headers, timeout=10
    )
    assert health.status_code == 200
    # The registry keeps the digest, never the token.
    assert token.encode() not in (mlos_server.home / "registry.db").read_bytes()
    # A restart keeps the same admin token.
    mlos_server.restart()
    assert path.read_text().strip() == token


def test_token_cli_create_list_revoke(mlos_server: ServerProcess) -> None:
    env = {**os.environ, "MLOS_URL": mlos_server.url}
    created = _mlos("token", "create", "ci", "--role", "inference", "--ttl", "1h", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("mlos_") and "shown only now" in created.stderr
    listed = json.loads(_mlos("token", "list", "--json", env=env).stdout)
    ci = next(t for t in listed["tokens"] if t["name"] == "ci")
    assert ci["role"] == "inference" and ci["expires_at"] > time.time() + 3500
    assert all("token" not in t for t in listed["tokens"])
    # The inference token may read and infer, not manage: one readable line, exit 1.
    as_ci = {**env, "MLOS_TOKEN": token}
    assert _mlos("plugin", "list", env=as_ci).returncode == 0
    refused = _mlos("plugin", "register", "onnx", env=as_ci)
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1 and "may not call register_plugin" in refused.stderr
    revoked = _mlos("token", "revoke", ci["id"], env=env)
    assert revoked.returncode == 0 and f"revoked token {ci['id']}" in revoked.stdout
    after = _mlos("plugin", "list", env=as_ci)
    assert after.returncode != 0 and "revoked" in after.stderr


def test_rate_limit_burst_retry_after_refill_and_isolation(mlos_server: ServerProcess) -> None:
    admin = mlos_server.auth_headers
    url = mlos_server.url

    def token(name: str, limit: str) -> dict[str, str]:
        body = {"name": name, "role": "viewer", "rate_limit": limit}
        created = requests.post(f"{url}/v1/tokens", json=body, headers=admin, timeout=10)
        assert created.status_code == 201, created.text
        return {"Authorization": f"Bearer {created.json()['token']}"}

    bursty, calm = token("bursty", "2/s:3"), token("calm", "2/s:3")
    with requests.Session() as session:
        session.trust_env = False
        statuses = [
            session.get(f"{url}/v1/plugins", headers=bursty, timeout=10) for _ in range(6)
        ]
        codes = [answer.status_code for answer in statuses]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
        limited = next(answer for answer in statuses if answer.status_code == 429)
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["code"] == "resource_exhausted"
        # Another token is unaffected.
        assert session.get(f"{url}/v1/plugins", headers=calm, timeout=10).status_code == 200
        # The bucket refills at its rate.
        time.sleep(1.1)
        assert session.get(f"{url}/v1/plugins", headers=bursty, timeout=10).status_code == 200


def test_audit_log_has_management_and_refusals_never_tokens(mlos_server: ServerProcess) -> None:
    url = mlos_server.url
    token = mlos_server.token
    assert token
    requests.post(f"{url}/v1/plugins", json={"name": "nope"}, headers=mlos_server.auth_headers,
                  timeout=10)
    requests.get(f"{url}/v1/models", headers={"Authorization": "Bearer mlos_00_bad"}, timeout=10)
    lines = [json.loads(line) for line in (mlos_server.home / "audit.log").read_text().splitlines()]
    register = next(entry for entry in lines if entry["operation"] == "register_plugin")
    assert register["principal"].startswith("token:")
    assert register["outcome"] in ("not_found", "invalid_argument")
    refused = next(entry for entry in lines if entry["operation"] == "list_models")
    assert refused["principal"] == "anonymous" and refused["outcome"] == "unauthenticated"
    text = (mlos_server.home / "audit.log").read_text()
    # The secret follows the id's underscore and may hold underscores itself (URL-safe base64).
    secret = token.removeprefix("mlos_").partition("_")[2]
    assert len(secret) > 20 and token not in text and secret not in text
    assert stat.S_IMODE((mlos_server.home / "audit.log").stat().st_mode) == 0o600


def test_no_auth_is_for_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        Settings(home=tmp_path, host="0.0.0.0", auth=False)
    server = ServerProcess(tmp_path / "home", "--no-auth", logs=tmp_path)
    with server:
        assert requests.get(f"{server.url}/v1/health", timeout=10).status_code == 200
        assert server.token is None
        assert "without authentication" in server.log_tail()
