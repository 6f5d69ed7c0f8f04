"""Every code block of the plugin author's docs runs as written, in order, as a reader runs it.

A block is run according to the marker on the line before it, `<!-- test: HOW -->`:

* `python`: the block is a program, run with this environment's Python;
* `file PATH`: the block is saved as PATH (then a `.py` file is run, YAML parsed);
* `config`: the block is server configuration (`<home>/config.yaml`) for the servers that follow;
* `part-of PATH`: the TOML block says what the repository's file PATH holds;
* `repo`: shell commands, with this checkout's tools and the C++ example plugin built;
* `server`: shell commands against a fresh `mlos serve` (its home `~/.mlos`, the token in
  `$TOKEN`, `localhost:8080` its address; curl fails on an HTTP error);
* `venv`: shell commands in a clean virtual environment holding the SDK and the kit;
* `ci`: a list of CI steps whose `run` commands run as `repo` blocks do.

Blocks marked `text` or `console` (output, file formats) are not run; any other block without
a marker fails the test. All blocks of a document share one working directory,
`/home/me/src/echo-plugin` as the docs call it, under a temporary HOME (`/home/me`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlos.testing import ServerProcess
from tests.suite import REPO
from tests.wheels import clean_venv

pytestmark = pytest.mark.timeout(900)
DOCS = ("plugins.md", "conformance.md")
NOT_RUN = {"text", "console"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\S*)\s*$")
MARKER = re.compile(r"^ *<!-- test: (?P<how>[^>]+?) -->\s*$")
CURL = 'curl() { command curl --fail-with-body -sS "$@"; echo; }\n'
"""Inside server blocks: an HTTP error fails the block, and each answer ends its line."""


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    line: int
    lang: str
    how: str | None
    text: str


def blocks(document: str) -> list[Block]:
    """The fenced code blocks of `document`, dedented, with their markers."""
    lines = document.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, start = opening["indent"], index
        index += 1
        body: list[str] = []
        while lines[index] != f"{indent}```":
            body.append(lines[index].removeprefix(indent))
            index += 1
        previous = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        marker = MARKER.match(previous)
        found.append(Block(start + 1, opening["lang"], marker["how"] if marker else None,
                           "\n".join(body) + "\n"))
        index += 1
    return found


def test_blocks_are_found_with_their_markers() -> None:
    sample = ("x\n<!-- test: python -->\n```python\nprint(1)\n```\n\n1. item\n\n   ```text\n"
              "   out\n   ```\n")
    assert blocks(sample) == [Block(3, "python", "python", "print(1)\n"),
                              Block(9, "text", None, "out\n")]


@pytest.mark.parametrize("name", DOCS)
def test_every_block_is_run_or_marked_as_output(name: str) -> None:
    found = blocks((REPO / "docs" / name).read_text(encoding="utf-8"))
    unmarked = [f"{name}:{b.line}" for b in found if b.lang not in NOT_RUN and b.how is None]
    assert unmarked == []
    assert sum(b.how is not None for b in found) >= 5


class Reader:
    """Runs one document's blocks in order, in one working directory, as a reader would."""

    def __init__(self, tmp_path: Path, cpp_plugin: Path, wheelhouse: Path) -> None:
        self.tmp = tmp_path
        self.home = tmp_path / "home"
        self.work = self.home / "src" / "echo-plugin"
        self.work.mkdir(parents=True)
        self.cpp = cpp_plugin
        self.wheelhouse = wheelhouse
        # Nothing allowed beyond the defaults: the docs' own `config` blocks allow what they use.
        self.config: dict[str, Any] = {}
        self.venv_env: dict[str, str] | None = None
        self.ran: list[int] = []

    def substitute(self, text: str) -> str:
        """The docs' example paths, as this run has them."""
        text = text.replace("/opt/mlos/bin/mlos-plugin-cpp", str(self.cpp))
        text = text.replace("build/mlos-plugin-cpp", str(self.cpp.parent))
        text = re.sub(r"(?<![\w/.])plugins/examples/", f"{REPO}/plugins/examples/", text)
        return text.replace("/home/me", str(self.home))

    def env(self) -> dict[str, str]:
        """This checkout's tools first on PATH, HOME the reader's."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MLOS_", "PYTHON"))}
        return {**base, "HOME": str(self.home),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"}

    def shell(self, script: str, env: dict[str, str], block: Block) -> str:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.work,
                                env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (
            f"block at line {block.line} failed:\n{script}\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}")
        return result.stdout

    def run(self, block: Block) -> None:
        """Run one block as its marker says."""
        how, _, argument = (block.how or "").partition(" ")
        text = self.substitute(block.text)
        if how == "python":
            self.python(text, block)
        elif how == "file":
            path = self.work / argument
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if path.suffix == ".py":
                self.shell(f"python {argument}", self.env(), block)
            else:
                assert yaml.safe_load(text), block
        elif how == "config":
            for key, value in yaml.safe_load(text).items():
                self.config[key] = [*self.config.get(key, []), *value]
        elif how == "part-of":
            assert contains(tomllib.loads((REPO / argument).read_text()), tomllib.loads(text))
        elif how == "repo":
            self.shell(text, self.env(), block)
        elif how == "ci":
            steps = [step["run"] for step in yaml.safe_load(text) if "run" in step]
            assert steps, block
            for step in steps:
                self.shell(step, self.env(), block)
        elif how == "server":
            self.server(text, block)
        elif how == "venv":
            self.shell(text, self.venv(), block)
        else:
            pytest.fail(f"block at line {block.line}: unknown marker {block.how!r}")
        self.ran.append(block.line)

    def python(self, text: str, block: Block) -> None:
        result = subprocess.run([sys.executable, "-"], input=text, cwd=self.work, env=self.env(),
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (
            f"block at line {block.line} failed:\n{text}\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}")

    def server(self, text: str, block: Block) -> None:
        """A fresh server in ~/.mlos (keeping its models) for each block."""
        home = self.home / ".mlos"
        if home.exists():
            for item in home.iterdir():
                if item.name != "models":
                    shutil.rmtree(item) if item.is_dir() else item.unlink()
        (home / "models").mkdir(parents=True, exist_ok=True)
        with ServerProcess(home, logs=self.tmp / f"logs-{block.line}", config=self.config,
                           env=self.env()) as server:
            address = server.url.removeprefix("http://")
            env = {**self.env(), "MLOS_URL": server.url, "TOKEN": server.token or ""}
            self.shell(CURL + text.replace("localhost:8080", address), env, block)

    def venv(self) -> dict[str, str]:
        """A clean virtual environment with the SDK and the kit, made on first use."""
        if self.venv_env is None:
            self.venv_env = clean_venv(self.tmp / "venv", self.wheelhouse, self.tmp / "venv-home")
            self.venv_env["HOME"] = str(self.home)
            subprocess.run(["pip", "install", "-q", "mlos-plugin-sdk", "mlos-conformance"],
                           env=self.venv_env, check=True, timeout=600, capture_output=True)
        return self.venv_env


def contains(whole: Any, part: Any) -> bool:
    """Whether every key and list item of `part` is in `whole`, recursively."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            key in whole and contains(whole[key], value) for key, value in part.items())
    if isinstance(part, list):
        return isinstance(whole, list) and all(item in whole for item in part)
    return bool(whole == part)


def test_contains() -> None:
    assert contains({"a": {"b": [1, 2], "c": 3}}, {"a": {"b": [2]}})
    assert not contains({"a": {"b": [1, 2]}}, {"a": {"b": [3]}})
    assert not contains({"a": 1}, {"b": 1})


@pytest.fixture
def reader(tmp_path: Path, cpp_plugin: Path, wheelhouse: Path) -> Iterator[Reader]:
    yield Reader(tmp_path, cpp_plugin, wheelhouse)


@pytest.mark.parametrize("name", DOCS)
def test_the_blocks_run_as_written(name: str, reader: Reader) -> None:
    found = blocks((REPO / "docs" / name).read_text(encoding="utf-8"))
    for block in found:
        if block.lang not in NOT_RUN:
            reader.run(block)
    assert reader.ran == [b.line for b in found if b.lang not in NOT_RUN]


def test_a_failing_or_unknown_block_fails(tmp_path: Path) -> None:
    # The C++ build and the wheelhouse are used only by blocks that need them.
    reader = Reader(tmp_path, tmp_path / "no-build" / "mlos-plugin-cpp", tmp_path / "no-wheels")
    with pytest.raises(AssertionError, match="block at line 7 failed"):
        reader.run(Block(7, "bash", "repo", "true\nfalse\necho never\n"))
    with pytest.raises(AssertionError, match="block at line 8 failed"):
        reader.run(Block(8, "python", "python", "raise SystemExit(3)\n"))
    with pytest.raises(pytest.fail.Exception, match="unknown marker 'shell'"):
        reader.run(Block(9, "bash", "shell", "true\n"))
    with pytest.raises(AssertionError):
        reader.run(Block(10, "toml", "part-of pyproject.toml", '[project]\nname = "other"\n'))
    assert reader.ran == []
    reader.run(Block(11, "toml", "part-of pyproject.toml", '[project]\nname = "mlos"\n'))
    assert reader.ran == [11]
