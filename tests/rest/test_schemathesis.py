"""Schemathesis over every operation of spec/openapi.yaml, against a real `mlos serve --demo`.

Every check (`--checks all`) and every phase: examples (the spec's examples), coverage
(boundary and invalid values of each parameter and body, unlisted methods), fuzzing (generated
valid and invalid requests) and stateful (sequences that follow the spec's links: plugins, model
versions and tokens created in the run are read, loaded, unloaded, used and removed). The first
three phases call operations in any order and soon unload or remove what the server started
with; the stateful phase builds its own state along the links, so it runs as a second
schemathesis run against a fresh server. Both present the server's admin token as
`Authorization: Bearer` (schemathesis also calls without it and checks the 401). Any failure
fails the test, with schemathesis's report.

`tests/rest/schemathesis.toml` holds the settings that differ from schemathesis's defaults and
why; `tests/rest/schemathesis_hooks.py` keeps the run's own token from being revoked and lets
schemathesis read binary inference responses. The environment variables `MLOS_FUZZ_EXAMPLES`
(cases per operation in the coverage and fuzzing phases) and `MLOS_FUZZ_SEED` make a longer or
a different run; the defaults keep the test at a few minutes on two cores, and deterministic.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlos.testing import ServerProcess
from mlos_generated.openapi_operations import OPERATIONS

hooks = pytest.importorskip("tests.rest.schemathesis_hooks", reason="needs schemathesis")

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "openapi.yaml"
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = "tests.rest.schemathesis_hooks"
PHASES = ("examples", "coverage", "fuzzing", "stateful")
EXAMPLES = int(os.environ.get("MLOS_FUZZ_EXAMPLES", "") or 100)
SEED = int(os.environ.get("MLOS_FUZZ_SEED", "") or 20261204)
MIN_LINKS_COVERED = 10
"""Links the stateful phase must follow at least (of those in the spec and inferred)."""
RUN_TIMEOUT = 1500.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(RUN_TIMEOUT + 120)]


def _with_input() -> list[str]:
    """The operations that take a path parameter or a body."""
    document = yaml.safe_load(SPEC.read_text())
    return [
        operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
        and ("{" in path or "requestBody" in operation)
    ]


def _config(server: ServerProcess, workdir: Path) -> Path:
    """tests/rest/schemathesis.toml, with the server's demo model file as test data: half the
    model registrations name it (the spec cannot: the file lives in the server's home)."""
    model = server.home / "models" / "demo" / "model.onnx"
    assert model.is_file(), model
    config = workdir / "schemathesis.toml"
    config.write_text(
        CONFIG.read_text()
        + "\n[dictionaries]\n"
        + f"model-files = {{ values = [{json.dumps(str(model))}] }}\n"
        + "\n[[operations]]\n"
        + 'include-operation-id = "register_model"\n'
        + 'parameters = { "body.path" = { dictionary = "model-files", probability = 0.5 } }\n'
    )
    return config


def _schemathesis(
    server: ServerProcess, workdir: Path, phases: tuple[str, ...]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    token = server.token
    assert token, "the server wrote no admin token"
    report = workdir / "schemathesis.json"
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": HOOKS,
        hooks.PROTECTED_TOKEN_ENV: token.split("_")[1],
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(_config(server, workdir)),
        "--no-color",
        "run", str(SPEC), "--url", server.url,
        "--header", f"Authorization: Bearer {token}",
        "--checks", "all",
        "--phases", ",".join(phases),
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--generation-database", "none",
        "--request-timeout", "60",
        "--report", "json", "--report-json-path", str(report),
    ]
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
        check=False
    )
    return result, report


@pytest.mark.parametrize(
    "phases", [PHASES[:3], PHASES[3:]], ids=["examples-coverage-fuzzing", "stateful"]
)
def test_schemathesis_finds_nothing(phases: tuple[str, ...], tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    with ServerProcess(tmp_path / "home", "--demo", logs=tmp_path) as server:
        result, report_path = _schemathesis(server, workdir, phases)
        log = server.log_tail(6000)
    output = result.stdout + result.stderr
    (workdir / "schemathesis.txt").write_text(output)
    assert result.returncode == 0, f"{output[-20000:]}\n--- server log ---\n{log}"
    report = json.loads(report_path.read_text())
    operations = report["operations"]
    assert operations["errored"] == 0, operations
    statuses = {phase: report["phases"][phase]["status"] for phase in phases}
    assert statuses == dict.fromkeys(phases, "success"), report["phases"]
    cases = report["test_cases"]["generated"]
    if "fuzzing" in phases:
        assert operations["total"] == operations["tested"] == len(OPERATIONS), operations
        assert operations["skipped"] == 0, operations
        # Each operation that takes input gets EXAMPLES generated cases at least (one that
        # takes none has only one case to try).
        assert cases >= EXAMPLES * len(_with_input()), report["test_cases"]
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", output)
    if "stateful" in phases:
        assert links is not None, output[-5000:]
        assert int(links.group(1)) >= MIN_LINKS_COVERED, links.group(0)
    print(
        f"schemathesis: phases {', '.join(phases)}: {operations['tested']} operations, "
        f"{cases} cases in {report['running_time']:.0f} s"
        + (f", links {links.group(1)}/{links.group(2)} covered" if links else "")
        + f" (seed {SEED}, {EXAMPLES} examples)"
    )
