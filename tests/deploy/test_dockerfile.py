"""The container image's recipe: what it copies builds the package, it runs as the account the
manifests expect, listens where they look, and its health check works against a real server."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from mlos.cluster.process import free_port
from mlos.config import KEYS
from mlos.testing import ServerProcess

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def test_the_build_stage_copies_every_package_folder_and_the_ignore_file_keeps_them() -> None:
    copied = {shlex.split(rest)[0] for word, rest in instructions()
              if word == "COPY" and not rest.startswith("--from")}
    copied |= {"pyproject.toml", "README.md"}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    folders = set(project["tool"]["setuptools"]["packages"]["find"]["where"]) - {"."}
    top_packages = {p.split(".")[0] for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = folders | {p for p in top_packages if (REPO / p).is_dir()}
    assert needed <= copied, f"the image would miss {sorted(needed - copied)}"
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: no such file"
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert not (copied & ignored)


def test_the_image_runs_unprivileged_on_all_interfaces_with_the_embedded_registry() -> None:
    stage = final_stage()
    users = [rest for word, rest in stage if word == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    env = env_of(stage)
    assert env["MLOS_HOST"] == "0.0.0.0"
    assert "MLOS_DATABASE_URL" not in env  # the embedded SQLite file in MLOS_HOME, as is
    assert env["MLOS_HOME"] == "/var/lib/mlos"
    exposed = {int(p) for word, rest in stage if word == "EXPOSE" for p in rest.split()}
    assert exposed == {int(env["MLOS_HTTP_PORT"]), int(env["MLOS_GRPC_PORT"])}
    assert exposed == {KEYS["http_port"].default, KEYS["grpc_port"].default}
    entry = [json.loads(rest) for word, rest in stage if word in ("ENTRYPOINT", "CMD")]
    assert entry == [["mlos"], ["serve"]]


def test_the_manifests_run_the_image_as_its_own_account() -> None:
    deployment = yaml.safe_load((REPO / "deploy" / "kubernetes" / "deployment.yaml").read_text())
    context = deployment["spec"]["template"]["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    home = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert home["mountPath"] == env_of(final_stage())["MLOS_HOME"]


def _healthcheck_command() -> list[str]:
    checks = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    command: list[str] = json.loads(checks[0].split(" CMD ", 1)[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def test_the_health_check_passes_on_a_live_server_and_fails_without_one(
    mlos_server: ServerProcess,
) -> None:
    port = mlos_server.url.rsplit(":", 1)[1]
    live = subprocess.run(_healthcheck_command(), env={"MLOS_HTTP_PORT": port},
                          capture_output=True, timeout=30, check=False)
    assert live.returncode == 0, live.stderr
    dead = subprocess.run(_healthcheck_command(), env={"MLOS_HTTP_PORT": str(free_port())},
                          capture_output=True, timeout=30, check=False)
    assert dead.returncode != 0
