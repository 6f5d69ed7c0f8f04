"""The README's quickstart lines run against a real server and answer what the README says."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_fixture import MLOSServer

ROOT = Path(__file__).resolve().parents[1]
MARKER = "@@mlos-readme-step@@"


def quickstart_steps() -> list[tuple[str, str | None]]:
    """(command, expected answer) pairs from the README's marked quickstart block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- quickstart:begin -->", 1)[1].split("<!-- quickstart:end -->", 1)[0]
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("```")]
    steps: list[tuple[str, str | None]] = []
    for line in lines:
        if line.startswith("# → "):
            command, _ = steps[-1]
            steps[-1] = (command, line.removeprefix("# → "))
        else:
            steps.append((line, None))
    return steps


def matches(expected: str, answer: str) -> bool:
    """`expected` with `...` standing for anything, compared in order."""
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, answer.strip(), flags=re.DOTALL) is not None


def test_matches_understands_ellipses() -> None:
    assert matches('{"a":1,...,"c":3}', '{"a":1,"b":2,"c":3}')
    assert not matches('{"a":1,...,"c":4}', '{"a":1,"b":2,"c":3}')


@pytest.fixture
def quickstart_server(tmp_path: Path) -> Iterator[MLOSServer]:
    """A server as the README starts it: its own home, the default configuration."""
    server = MLOSServer(tmp_path / "mlos-quickstart", tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_quickstart_runs_as_written(quickstart_server: MLOSServer) -> None:
    steps = quickstart_steps()
    serve, *rest = steps
    assert serve[0].startswith(".venv/bin/mlos serve --home /tmp/mlos-quickstart --http-port 8090")
    assert sum(expected is not None for _, expected in rest) >= 5
    url = quickstart_server.url
    script = []
    for command, _ in rest:
        command = command.replace("/tmp/mlos-quickstart", str(quickstart_server.home))
        command = command.replace("127.0.0.1:8090", url.removeprefix("http://"))
        command = command.replace(".venv/bin/", f"{ROOT}/.venv/bin/")
        script += [command, f"echo; echo {MARKER}"]
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    answers = result.stdout.split(MARKER)
    for (command, expected), answer in zip(rest, answers, strict=False):
        if expected is not None:
            assert matches(expected, answer), f"{command}\nexpected: {expected}\nanswer:   {answer}"


@pytest.mark.parametrize("target", ["run", "test", "install", "generate", "check-generated", "bench"])
def test_makefile_has_the_targets_the_readme_names(target: str) -> None:
    assert re.search(rf"^{re.escape(target)}:", (ROOT / "Makefile").read_text(), flags=re.M)
