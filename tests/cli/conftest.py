"""In-process CLI runs against a FakeClient: `run("plugin", "list")` → exit code, stdout, stderr."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from mlos.cli.main import main
from mlos.cli.output import Output
from tests.cli.fake_client import FakeClient


@dataclass
class Result:
    """What one command did."""

    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
def run(fake: FakeClient) -> Run:
    """Run `mlos ARGS...` in-process with the fake client; `env=` sets the environment."""

    def _run(*argv: str, env: dict[str, str] | None = None) -> Result:
        out, err = io.StringIO(), io.StringIO()

        def connector(url: str, **options: Any) -> FakeClient:
            fake.url, fake.options = url, options
            return fake

        code = main(list(argv), env=env or {}, output=Output(out=out, err=err),
                    connector=connector)
        return Result(code, out.getvalue(), err.getvalue())

    return _run
