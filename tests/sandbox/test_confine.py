"""A confinement travels as JSON and is applied by the process to itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlos.sandbox.confine import Confinement

PROBE = """
import json, os, resource
status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)
print(json.dumps({
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    "data": resource.getrlimit(resource.RLIMIT_DATA),
    "cpus": sorted(os.sched_getaffinity(0)),
    "no_new_privs": status["NoNewPrivs"].strip(),
}))
"""


def test_json_round_trip_and_compact_form() -> None:
    confinement = Confinement(cgroup_procs=("/sys/fs/cgroup/x/cgroup.procs",), open_files=64, cpus=(0, 1))
    text = confinement.to_json()
    assert json.loads(text) == {"cgroup_procs": ["/sys/fs/cgroup/x/cgroup.procs"], "cpus": [0, 1], "open_files": 64}
    assert Confinement.from_json(text) == confinement
    assert Confinement().to_json() == "{}"
    with pytest.raises(ValueError, match="unknown confinement keys: evil"):
        Confinement.from_json('{"evil": 1}')
    with pytest.raises(ValueError):
        Confinement.from_json("[]")


def test_an_executable_is_confined_before_it_runs(tmp_path: Path) -> None:
    cpu = min(os.sched_getaffinity(0))
    confinement = Confinement(open_files=77, memory_bytes=3 * 2**30, cpus=(cpu,))
    result = subprocess.run(
        [sys.executable, "-P", "-m", "mlos.sandbox", "--confine", confinement.to_json(), "--",
         sys.executable, "-c", PROBE],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["nofile"] == [77, 77]
    assert seen["data"] == [3 * 2**30, 3 * 2**30]
    assert seen["cpus"] == [cpu]
    assert seen["no_new_privs"] == "1"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--confine", "{}"], 2, "usage"),
        (["--confine", "{nope", "--", "/bin/true"], 2, "bad confinement"),
        (["--confine", '{"cgroup_procs": ["/nonexistent/cgroup.procs"]}', "--", "/bin/true"], 126, "cannot confine"),
        (["--confine", "{}", "--", "/nonexistent/program"], 127, "cannot run /nonexistent/program"),
    ],
)
def test_the_wrapper_refuses_to_run_what_it_cannot_confine(args: list[str], code: int, words: str) -> None:
    result = subprocess.run(
        [sys.executable, "-P", "-m", "mlos.sandbox", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == code
    assert words in result.stderr
