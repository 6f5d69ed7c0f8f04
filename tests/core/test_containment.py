"""How plugin processes are contained: environment, directories, limits and their words."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlos.core.containment import Containment
from mlos.errors import InvalidArgument
from mlos.sandbox.limits import Limits

SERVER_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/server",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "MLOS_TOKEN": "secret-token",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "LD_PRELOAD": "/tmp/evil.so",
    "PYTHONPATH": "/tmp/evil",
    "PYTHONSTARTUP": "/tmp/evil.py",
    "CUDA_VISIBLE_DEVICES": "1",
    "TMPDIR": "/tmp",
}


def containment(tmp_path: Path, **kwargs: object) -> Containment:
    options: dict[str, object] = {"cgroup": "off", "server_env": SERVER_ENV, "host_env": {"MLOS_LOG_LEVEL": "WARNING"}}
    options.update(kwargs)
    return Containment(tmp_path / "home", **options)  # type: ignore[arg-type]


def test_the_environment_is_scrubbed(tmp_path: Path) -> None:
    enclosure = containment(tmp_path).enclose("onnx", Limits())
    assert enclosure.env == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/server",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "TMPDIR": str(tmp_path / "home" / "plugins" / "onnx" / "tmp"),
        "MLOS_LOG_LEVEL": "WARNING",
    }


def test_configured_extras_and_python_path(tmp_path: Path) -> None:
    contained = containment(
        tmp_path,
        env_entries=("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS=2", "NOT_SET_ON_SERVER", "TMPDIR=/elsewhere"),
        python_path=(Path("/srv/plugins"), Path("/srv/more")),
    )
    env = contained.enclose("onnx", Limits()).env
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    assert env["OMP_NUM_THREADS"] == "2"
    assert "NOT_SET_ON_SERVER" not in env
    assert env["PYTHONPATH"] == "/srv/plugins:/srv/more"
    assert env["TMPDIR"].endswith("/plugins/onnx/tmp")  # the private one wins
    assert "MLOS_TOKEN" not in env and "LD_PRELOAD" not in env


def test_each_plugin_has_a_private_directory_emptied_at_each_start(tmp_path: Path) -> None:
    contained = containment(tmp_path)
    first = contained.enclose("onnx", Limits())
    assert first.cwd == tmp_path / "home" / "plugins" / "onnx"
    assert stat.S_IMODE(first.cwd.stat().st_mode) == 0o700
    (first.cwd / "tmp" / "left-over").write_text("x")
    (first.cwd / "tmp" / "dir").mkdir()
    second = contained.enclose("onnx", Limits())
    assert list((second.cwd / "tmp").iterdir()) == []
    (second.cwd / "tmp" / "more").write_text("x")
    second.close()
    assert list((second.cwd / "tmp").iterdir()) == []


def test_limits_layer_configuration_over_registration_over_default(tmp_path: Path) -> None:
    contained = containment(
        tmp_path,
        limits={
            "*": Limits(memory_bytes=4 * 2**30, open_files=4096),
            "onnx": Limits(memory_bytes=2**30, user="nobody"),
        },
    )
    registered = Limits(memory_bytes=2 * 2**30, cpus=(0,), open_files=128)
    assert contained.limits_for("onnx", registered) == Limits(
        memory_bytes=2**30, cpus=(0,), open_files=128, user="nobody"
    )
    assert contained.limits_for("torch", Limits()) == Limits(memory_bytes=4 * 2**30, open_files=4096)


def test_what_is_enforced_and_how_is_said(tmp_path: Path) -> None:
    cpu = min(os.sched_getaffinity(0))
    limits = Limits(memory_bytes=512 * 2**20, cpus=(cpu,), open_files=64, processes=8, cpu_quota=1.0)
    enclosure = containment(tmp_path).enclose("onnx", limits)
    assert enclosure.confinement.memory_bytes == 512 * 2**20
    assert enclosure.confinement.open_files == 64
    assert enclosure.confinement.cpus == (cpu,)
    assert enclosure.confinement.processes == 0  # RLIMIT_NPROC only for a user of its own
    assert enclosure.memory_by_rlimit
    assert enclosure.sandbox == (
        f"rlimit data 512 MiB; rlimit nofile 64; cpus {cpu}; no_new_privs; not enforced: "
        "processes (needs a cgroup with the pids controller, or a plugin user of its own), "
        "cpu quota (needs a cgroup with the cpu controller)"
    )
    assert containment(tmp_path).enclose("bare", Limits()).sandbox == "no_new_privs"


def test_impossible_limits_are_refused(tmp_path: Path) -> None:
    contained = containment(tmp_path)
    missing = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(InvalidArgument, match=f"CPU\\(s\\) {missing} are not available"):
        contained.check(Limits(cpus=(missing,)))
    with pytest.raises(InvalidArgument, match="plugin user 'no-such-user-here' does not exist"):
        contained.check(Limits(user="no-such-user-here"))
    contained.check(Limits(cpus=(min(os.sched_getaffinity(0)),), open_files=64))


@pytest.mark.skipif(os.geteuid() != 0, reason="running plugins as another user needs root")
def test_a_plugin_user_gets_a_directory_it_owns_and_its_limits(tmp_path: Path) -> None:
    contained = containment(tmp_path)
    enclosure = contained.enclose("onnx", Limits(user="nobody", processes=16, open_files=32))
    try:
        info = enclosure.cwd.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (65534, 0o700)
        assert (enclosure.cwd / "tmp").stat().st_uid == 65534
        assert not enclosure.cwd.is_relative_to(tmp_path)  # reachable by that user
        assert enclosure.env["HOME"] == str(enclosure.cwd)
        assert (enclosure.confinement.uid, enclosure.confinement.processes) == (65534, 16)
        assert "rlimit nproc 16 (user nobody)" in enclosure.sandbox and "user nobody" in enclosure.sandbox
    finally:
        enclosure.close()
    assert not enclosure.cwd.exists()
