"""`axon completion`: bash, zsh and fish scripts that complete commands and options."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from axon.cli import build_parser
from axon.completion import commands
from tests.axon.conftest import Cli


def write(cli: Cli, shell: str, tmp_path: pathlib.Path) -> pathlib.Path:
    code, out, _ = cli("completion", shell)
    assert code == 0 and out
    path = tmp_path / f"axon.{shell}"
    path.write_text(out)
    return path


def shell(program: str, script: str) -> list[str]:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed")
    done = subprocess.run([program, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_table_covers_every_command() -> None:
    table = {c.path: c for c in commands(build_parser())}
    assert {"install", "registry delete", "key trust", "run", "cache gc", "lock"} <= set(table)
    assert "--force" in table["install"].options and "--sign" in table["publish"].options
    assert "untrust" in table["key"].subcommands


def test_bash(cli: Cli, tmp_path: pathlib.Path) -> None:
    script = write(cli, "bash", tmp_path)

    def complete(*words: str) -> list[str]:
        array = " ".join(f"'{w}'" for w in ("axon", *words))
        return shell("bash", f"source {script}; COMP_WORDS=({array}); "
                             f"COMP_CWORD={len(words)}; _axon; echo ${{COMPREPLY[@]}}")

    assert complete("reg") == ["registry"]
    assert {"add", "delete", "demo", "token"} <= set(complete("registry", ""))
    assert complete("--json", "install", "demo/mlp", "--fo") == ["--force"]
    assert complete("key", "tr") == ["trust"]
    assert complete("registry", "add", "list", "--def") == ["--default"]


def test_zsh(cli: Cli, tmp_path: pathlib.Path) -> None:
    script = write(cli, "zsh", tmp_path)
    subs = shell("zsh", f"source {script}; _axon_table \"$(_axon_path registry)\"; "
                        "print -l -- ${subs%%:*}")
    assert {"add", "delete", "serve"} <= set(subs)
    opts = shell("zsh", f"source {script}; _axon_table \"$(_axon_path --json install x)\"; "
                        "print -l -- $opts")
    assert "--locked" in opts and "--force" in opts


def test_fish(cli: Cli, tmp_path: pathlib.Path) -> None:
    script = write(cli, "fish", tmp_path)
    found = shell("fish", f"source {script}; complete -C 'axon registry '")
    assert {"add", "delete", "demo"} <= set(found)
    assert shell("fish", f"source {script}; complete -C 'axon install --fo'") == ["--force"]
    assert shell("fish", f"source {script}; complete -C 'axon ke'")[0] == "key"
