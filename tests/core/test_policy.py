"""What the API may start and read: module and executable allow-lists, model roots, bad text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlos.core.policy import AccessPolicy, check_text
from mlos.errors import InvalidArgument, NotFound, PermissionDenied


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "m.onnx").write_text("m")
    (tmp_path / "secret.onnx").write_text("s")
    return root


def policy(tmp_path: Path, **kwargs: object) -> AccessPolicy:
    return AccessPolicy(model_roots=[tmp_path / "models"], **kwargs)  # type: ignore[arg-type]


def test_model_paths_under_a_root_resolve(tmp_path: Path, roots: Path) -> None:
    assert policy(tmp_path).model_path(str(roots / "sub" / "m.onnx")) == roots / "sub" / "m.onnx"
    assert policy(tmp_path).model_path(str(roots / "sub")) == roots / "sub"
    assert policy(tmp_path).model_path(str(roots / "sub" / "." / "m.onnx")) == roots / "sub" / "m.onnx"


@pytest.mark.parametrize("escape", ["../secret.onnx", "sub/../../secret.onnx", "../../../../etc/passwd"])
def test_dot_dot_cannot_leave_the_roots(tmp_path: Path, roots: Path, escape: str) -> None:
    with pytest.raises(PermissionDenied, match="outside the server's model roots"):
        policy(tmp_path).model_path(str(roots / escape))


def test_a_symbolic_link_cannot_leave_the_roots(tmp_path: Path, roots: Path) -> None:
    (roots / "link.onnx").symlink_to(tmp_path / "secret.onnx")
    (roots / "dir").symlink_to(tmp_path)
    for path in (roots / "link.onnx", roots / "dir" / "secret.onnx"):
        with pytest.raises(PermissionDenied):
            policy(tmp_path).model_path(str(path))
    # a link that stays inside is fine, and is recorded resolved
    (roots / "inside.onnx").symlink_to(roots / "sub" / "m.onnx")
    assert policy(tmp_path).model_path(str(roots / "inside.onnx")) == roots / "sub" / "m.onnx"


def test_a_root_reached_through_a_link_still_counts(tmp_path: Path, roots: Path) -> None:
    (tmp_path / "alias").symlink_to(roots)
    linked = AccessPolicy(model_roots=[tmp_path / "alias"])
    assert linked.model_path(str(roots / "sub" / "m.onnx")) == roots / "sub" / "m.onnx"


def test_whether_a_file_outside_exists_is_not_revealed(tmp_path: Path, roots: Path) -> None:
    for path in (tmp_path / "secret.onnx", tmp_path / "nothing.onnx"):
        with pytest.raises(PermissionDenied):
            policy(tmp_path).model_path(str(path))
    with pytest.raises(NotFound, match="does not exist"):
        policy(tmp_path).model_path(str(roots / "nothing.onnx"))
    with pytest.raises(InvalidArgument, match="cannot be resolved"):
        policy(tmp_path).model_path(str(roots / ("n" * 300)))  # a name over 255 bytes


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("models/m\x00.onnx", "NUL byte"),
        ("models/m\n.onnx", "control character"),
        ("models/\ud800.onnx", "not valid Unicode"),
        ("x" * 5000, "longer than 4096"),
        ("", "needs a path"),
    ],
)
def test_text_that_is_no_path_is_an_invalid_argument(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        policy(tmp_path).model_path(text)


def test_check_text_accepts_ordinary_names() -> None:
    check_text("name", "résumé-v1.2_final")


@pytest.mark.parametrize(
    ("patterns", "source", "allowed"),
    [
        ((), "tests.sdk.echo_plugin:EchoPlugin", False),
        (("tests.sdk.echo_plugin:EchoPlugin",), "tests.sdk.echo_plugin:EchoPlugin", True),
        (("tests.*",), "tests.sdk.echo_plugin:EchoPlugin", True),
        (("tests.*",), "testsuite.evil:Plugin", False),
        (("my.mod:A",), "my.mod:B", False),
    ],
)
def test_module_sources_must_be_allowed(tmp_path: Path, patterns: tuple[str, ...], source: str, allowed: bool) -> None:
    checker = policy(tmp_path, plugin_modules=patterns)
    if allowed:
        assert checker.plugin_source("module", source) == source
    else:
        with pytest.raises(PermissionDenied, match="plugin_modules"):
            checker.plugin_source("module", source)


@pytest.mark.parametrize("source", ["os", "os:system:x", "a.b:", ":C", "a b:C", "a.b:C;rm"])
def test_module_sources_must_be_import_strings(tmp_path: Path, source: str) -> None:
    with pytest.raises(InvalidArgument, match="must look like"):
        policy(tmp_path, plugin_modules=("*",)).plugin_source("module", source)


def test_entry_points_need_no_allowance(tmp_path: Path) -> None:
    assert policy(tmp_path).plugin_source("entry_point", "onnx") == "onnx"
    with pytest.raises(InvalidArgument, match="NUL"):
        policy(tmp_path).plugin_source("entry_point", "onnx\x00")


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    for name in ("allowed", "other"):
        (directory / name).write_text("#!/bin/sh\n")
        (directory / name).chmod(0o755)
    (directory / "plain").write_text("not executable")
    return directory


def test_executables_must_be_allowed_and_are_recorded_resolved(tmp_path: Path, programs: Path) -> None:
    checker = policy(tmp_path, plugin_executables=[programs / "allowed", programs / "plain"])
    assert checker.plugin_source("executable", str(programs / "allowed")) == str(programs / "allowed")
    assert checker.plugin_source("executable", str(programs / "." / "allowed")) == str(programs / "allowed")
    with pytest.raises(PermissionDenied, match="plugin_executables"):
        checker.plugin_source("executable", str(programs / "other"))
    with pytest.raises(InvalidArgument, match="not an executable file"):
        checker.plugin_source("executable", str(programs / "plain"))
    # a link to an allowed program is the allowed program; a link elsewhere is not allowed
    (tmp_path / "alias").symlink_to(programs / "allowed")
    assert checker.plugin_source("executable", str(tmp_path / "alias")) == str(programs / "allowed")
    (programs / "sneaky").symlink_to(programs / "other")
    with pytest.raises(PermissionDenied):
        checker.plugin_source("executable", str(programs / "sneaky"))


def test_a_directory_allows_the_executables_under_it(tmp_path: Path, programs: Path) -> None:
    checker = policy(tmp_path, plugin_executables=[programs])
    assert checker.plugin_source("executable", str(programs / "other")) == str(programs / "other")
    with pytest.raises(PermissionDenied):
        checker.plugin_source("executable", "/bin/sh")


def test_bare_names_are_looked_up_on_the_path(tmp_path: Path, programs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{programs}{os.pathsep}{os.environ.get('PATH', '')}")
    checker = policy(tmp_path, plugin_executables=[programs / "allowed"])
    assert checker.plugin_source("executable", "allowed") == str(programs / "allowed")
    for name in ("other", "no-such-program"):
        with pytest.raises(PermissionDenied):
            checker.plugin_source("executable", name)
