"""cgroups: the files written for each limit (v2 and v1), OOM kill counts, and a real cgroup
where the host lets the tests create one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlos.sandbox.cgroups import Cgroup, CgroupTree
from mlos.sandbox.confine import Confinement
from mlos.sandbox.limits import Limits

LIMITS = Limits(memory_bytes=512 * 2**20, processes=16, cpu_quota=1.5, cpu_weight=200)


def _cgroup(tmp_path: Path, version: int, *optional: str) -> Cgroup:
    paths = {}
    for controller in ("memory", "pids", "cpu"):
        directory = tmp_path / (controller if version == 1 else "all")
        directory.mkdir(exist_ok=True)
        for name in optional:
            (directory / name).write_text("max")
        paths[controller] = directory
    return Cgroup(paths, version)


def test_v2_files(tmp_path: Path) -> None:
    cgroup = _cgroup(tmp_path, 2, "memory.swap.max", "memory.oom.group")
    cgroup.apply(LIMITS)
    read = lambda name: (tmp_path / "all" / name).read_text()  # noqa: E731
    assert read("memory.max") == str(512 * 2**20)
    assert read("memory.swap.max") == "0"
    assert read("memory.oom.group") == "1"
    assert read("pids.max") == "16"
    assert read("cpu.max") == "150000 100000"
    assert read("cpu.weight") == "200"
    assert cgroup.enforced == ["memory", "pids", "cpu quota", "cpu weight"]
    assert cgroup.procs == [tmp_path / "all" / "cgroup.procs"]


def test_v1_files(tmp_path: Path) -> None:
    cgroup = _cgroup(tmp_path, 1, "memory.memsw.limit_in_bytes")
    cgroup.apply(LIMITS)
    assert (tmp_path / "memory" / "memory.limit_in_bytes").read_text() == str(512 * 2**20)
    assert (tmp_path / "memory" / "memory.memsw.limit_in_bytes").read_text() == str(512 * 2**20)
    assert (tmp_path / "pids" / "pids.max").read_text() == "16"
    assert (tmp_path / "cpu" / "cpu.cfs_quota_us").read_text() == "150000"
    assert (tmp_path / "cpu" / "cpu.shares").read_text() == "2048"
    assert len(cgroup.procs) == 3


def test_only_the_controllers_it_has(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    cgroup = Cgroup({"pids": tmp_path / "pids"}, 2)
    cgroup.apply(LIMITS)
    assert cgroup.enforced == ["pids"]
    assert not (tmp_path / "pids" / "memory.max").exists()


def test_oom_kill_counts(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    v2 = _cgroup(tmp_path / "a", 2)
    assert v2.oom_kills() == 0
    (tmp_path / "a" / "all" / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert v2.oom_kills() == 1
    (tmp_path / "b").mkdir()
    v1 = _cgroup(tmp_path / "b", 1)
    (tmp_path / "b" / "memory" / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    )
    assert v1.oom_kills() == 2


def test_off_and_bad_settings_mean_no_cgroups(tmp_path: Path) -> None:
    assert CgroupTree.find("off") is None
    assert CgroupTree.find(str(tmp_path)) is None  # not a cgroup v2 directory


def _real_pids_tree() -> CgroupTree | None:
    tree = CgroupTree.find("auto")
    return tree if tree is not None and "pids" in tree.controllers else None


@pytest.mark.skipif(_real_pids_tree() is None, reason="this host lets the tests create no pids cgroup")
def test_a_real_cgroup_limits_processes_and_is_removed() -> None:
    tree = _real_pids_tree()
    assert tree is not None
    cgroup = tree.create("test", Limits(processes=8))
    try:
        assert cgroup.enforced == ["pids"]
        confinement = Confinement(cgroup_procs=tuple(str(p) for p in cgroup.procs))
        forks = (
            "import os, time\n"
            "n = 0\n"
            "try:\n"
            "    for _ in range(40):\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(5); os._exit(0)\n"
            "        n += 1\n"
            "except OSError:\n"
            "    pass\n"
            "print(n)\n"
            "os._exit(0)\n"
        )
        result = subprocess.run(
            [sys.executable, "-P", "-m", "mlos.sandbox", "--confine", confinement.to_json(), "--",
             sys.executable, "-c", forks],
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert int(result.stdout) < 8
    finally:
        cgroup.remove()
        tree.close()
    assert not any(directory.exists() for directory in cgroup.directories)
    assert not any(p.name == f"mlos-{os.getpid()}" for root in tree.roots.values() for p in root.iterdir())
