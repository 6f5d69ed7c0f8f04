"""The kit's public surface: everything a user needs comes from `mlos_conformance` itself."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import mlos_conformance

ROOT = Path(__file__).resolve().parents[2]

#: The stable public API. Adding a name is a decision; removing or renaming one breaks users.
PUBLIC = [
    "ALL_CHECKS",
    "Check",
    "CheckResult",
    "Fixture",
    "FixtureCase",
    "FixtureError",
    "FixtureTensor",
    "Options",
    "Outcome",
    "PluginIdentity",
    "PluginLaunch",
    "Report",
    "Tolerance",
    "format_report",
    "load_fixtures",
    "report_json",
    "report_junit",
    "run_conformance",
    "run_conformance_async",
    "select_checks",
    "write_junit",
]


def test_all_is_the_public_api() -> None:
    assert mlos_conformance.__all__ == PUBLIC
    namespace: dict[str, object] = {}
    exec("from mlos_conformance import *", namespace)
    assert set(PUBLIC) <= set(namespace)
    for name in PUBLIC:
        assert getattr(mlos_conformance, name) is not None


def test_public_functions_and_classes_are_documented() -> None:
    for name in PUBLIC:
        value = getattr(mlos_conformance, name)
        if callable(value):
            assert (value.__doc__ or "").strip(), name


def test_check_names_are_unique_and_end_with_shutdown() -> None:
    names = [check.name for check in mlos_conformance.ALL_CHECKS]
    assert len(names) == len(set(names))
    assert names[-1] == "shutdown.clean"
    assert all(check.summary.endswith(".") for check in mlos_conformance.ALL_CHECKS)


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_docs_import_the_kit_from_its_public_api_only() -> None:
    """docs/conformance.md imports nothing from the kit's submodules or the server's."""
    blocks = _python_blocks((ROOT / "docs" / "conformance.md").read_text())
    assert blocks
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                assert node.module == "mlos_conformance" or top not in ("mlos", "mlos_conformance"), node.module
                if node.module == "mlos_conformance":
                    assert {alias.name for alias in node.names} <= set(PUBLIC)


def test_the_package_docstring_example_uses_public_names() -> None:
    lines = (mlos_conformance.__doc__ or "").split("::\n", 1)[1].splitlines()
    code = []
    for line in lines:
        if line and not line.startswith("    "):
            break
        code.append(line)
    tree = ast.parse(textwrap.dedent("\n".join(code)))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "mlos_conformance"
        for alias in node.names
    }
    assert "PluginLaunch" in imported and imported <= set(PUBLIC)
