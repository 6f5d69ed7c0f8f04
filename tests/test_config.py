"""Settings: precedence (flags > MLOS_* > YAML file > defaults), parsing and one-line errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from mlos.config import KEYS, ConfigError, Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def load(tmp_path: Path, flags: dict[str, object] | None = None,
         env: dict[str, str] | None = None) -> Settings:
    """Settings with a home under tmp_path unless the test gives one."""
    env = {"MLOS_HOME": str(tmp_path / "home"), **(env or {})}
    return Settings.load(flags or {}, env, cwd=tmp_path)


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.load({}, {}, cwd=tmp_path)
    assert settings.home == Path("~/.mlos").expanduser()
    assert (settings.host, settings.http_port, settings.grpc_port) == ("127.0.0.1", 8080, 8081)
    assert settings.ipc_socket == settings.home / "mlos.sock"
    assert settings.database_url == f"sqlite:///{settings.home / 'registry.db'}"
    assert settings.log_level == "info"
    assert settings.max_body_bytes == 64 * 2**20
    assert (settings.restart_backoff_initial, settings.restart_backoff_max) == (0.5, 30.0)
    assert (settings.busy_poll_us, settings.plugin_busy_poll_us) == (500, 0)
    assert settings.demo is False


def test_every_setting_is_a_documented_key() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)} - {"config_file"}
    assert fields == set(KEYS)
    text = DOCS.read_text()
    for key in KEYS.values():
        assert f"`{key.name}`" in text, f"docs/configuration.md misses {key.name}"
        assert key.env in text, f"docs/configuration.md misses {key.env}"
        if key.flag:
            assert key.flag in text


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home / "config.yaml", "http_port: 7001\ngrpc_port: 7002\nhost: 127.0.0.2\n")
    settings = load(tmp_path, {"http_port": "7101"}, {"MLOS_HTTP_PORT": "7201",
                                                     "MLOS_GRPC_PORT": "7202"})
    assert settings.http_port == 7101  # flag over environment and file
    assert settings.grpc_port == 7202  # environment over file
    assert settings.host == "127.0.0.2"  # file over default
    assert settings.log_level == "info"  # default
    assert settings.config_file == home / "config.yaml"


def test_none_flags_and_empty_env_count_as_unset(tmp_path: Path) -> None:
    settings = load(tmp_path, {"http_port": None, "demo": None}, {"MLOS_HTTP_PORT": "",
                                                                 "MLOS_DEMO": "yes"})
    assert settings.http_port == 8080
    assert settings.demo is True


def test_config_flag_and_env_name_the_file(tmp_path: Path) -> None:
    one = write_config(tmp_path / "one.yaml", "http_port: 9001\n")
    two = write_config(tmp_path / "two.yaml", "http_port: 9002\n")
    assert load(tmp_path, {"config": str(one)}, {"MLOS_CONFIG": str(two)}).http_port == 9001
    assert load(tmp_path, {}, {"MLOS_CONFIG": str(two)}).http_port == 9002


def test_explicit_file_replaces_home_file(tmp_path: Path) -> None:
    write_config(tmp_path / "home" / "config.yaml", "http_port: 9001\nlog_level: debug\n")
    other = write_config(tmp_path / "other.yaml", "http_port: 9002\n")
    settings = load(tmp_path, {"config": str(other)})
    assert (settings.http_port, settings.log_level) == (9002, "info")


def test_home_from_flag_locates_config_file(tmp_path: Path) -> None:
    write_config(tmp_path / "flag-home" / "config.yaml", "grpc_port: 9100\n")
    settings = load(tmp_path, {"home": "flag-home"})
    assert settings.home == tmp_path / "flag-home"
    assert settings.grpc_port == 9100
    assert settings.ipc_socket == tmp_path / "flag-home" / "mlos.sock"


def test_relative_paths_in_file_are_relative_to_the_file(tmp_path: Path) -> None:
    conf = write_config(tmp_path / "etc" / "mlos.yaml", "home: state\nipc_socket: run/m.sock\n")
    settings = load(tmp_path, {"config": str(conf)}, {"MLOS_HOME": ""})
    assert settings.home == tmp_path / "etc" / "state"
    assert settings.ipc_socket == tmp_path / "etc" / "run" / "m.sock"


def test_tilde_is_expanded(tmp_path: Path) -> None:
    settings = load(tmp_path, {"ipc_socket": "~/x.sock"})
    assert settings.ipc_socket == Path("~/x.sock").expanduser()


def test_value_parsing(tmp_path: Path) -> None:
    settings = load(tmp_path, {"log_level": "DEBUG", "demo": True}, {
        "MLOS_MAX_BODY_BYTES": "2MiB",
        "MLOS_RESTART_BACKOFF_INITIAL": "0.25",
        "MLOS_RESTART_BACKOFF_MAX": "4",
        "MLOS_BUSY_POLL_US": "0",
        "MLOS_PLUGIN_BUSY_POLL_US": "250",
    })
    assert (settings.busy_poll_us, settings.plugin_busy_poll_us) == (0, 250)
    assert settings.log_level == "debug"
    assert settings.demo is True
    assert settings.max_body_bytes == 2 * 2**20
    assert (settings.restart_backoff_initial, settings.restart_backoff_max) == (0.25, 4.0)
    conf = write_config(tmp_path / "c.yaml", "max_body_bytes: 1024\ndemo: true\nhttp_port: 0\n")
    from_file = load(tmp_path, {"config": str(conf)})
    assert (from_file.max_body_bytes, from_file.demo, from_file.http_port) == (1024, True, 0)


def test_the_metrics_port_is_off_unless_given(tmp_path: Path) -> None:
    assert load(tmp_path).metrics_port is None
    assert load(tmp_path, {"metrics_port": "8002"}).metrics_port == 8002
    assert load(tmp_path, {}, {"MLOS_METRICS_PORT": "0"}).metrics_port == 0
    assert load(tmp_path, {}, {"MLOS_METRICS_PORT": "off"}).metrics_port is None
    conf = write_config(tmp_path / "m.yaml", "metrics_port: null\nhttp_port: 0\ngrpc_port: 0\n")
    assert load(tmp_path, {"config": str(conf), "metrics_port": None}).metrics_port is None
    both_free = load(tmp_path, {"http_port": "0", "grpc_port": "0", "metrics_port": "0"})
    assert (both_free.http_port, both_free.metrics_port) == (0, 0)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"http_port": "eighty"}, {}, "--http-port: 'eighty' is not a port number"),
        ({}, {"MLOS_GRPC_PORT": "70000"}, "MLOS_GRPC_PORT: '70000' is not a port number"),
        ({}, {"MLOS_LOG_LEVEL": "loud"}, "MLOS_LOG_LEVEL: 'loud' is not a log level"),
        ({}, {"MLOS_DEMO": "maybe"}, "MLOS_DEMO: 'maybe' is not a boolean"),
        ({}, {"MLOS_MAX_BODY_BYTES": "lots"}, "MLOS_MAX_BODY_BYTES: 'lots' is not a size"),
        ({}, {"MLOS_MAX_BODY_BYTES": "0"}, "is not a positive size"),
        ({}, {"MLOS_RESTART_BACKOFF_MAX": "-1"}, "is not a positive number of seconds"),
        ({}, {"MLOS_BUSY_POLL_US": "-1"}, "MLOS_BUSY_POLL_US: '-1' is not a number of microseconds"),
        ({}, {"MLOS_PLUGIN_BUSY_POLL_US": "0.5"}, "'0.5' is not a number of microseconds"),
        ({"host": " "}, {}, "--host: ' ' is not a non-empty string"),
        ({"http_port": "9000", "grpc_port": "9000"}, {}, "http_port and grpc_port are both 9000"),
        ({"metrics_port": "8081"}, {}, "grpc_port and metrics_port are both 8081"),
        ({}, {"MLOS_METRICS_PORT": "on"}, "MLOS_METRICS_PORT: 'on' is not a port number"),
        ({}, {"MLOS_RESTART_BACKOFF_INITIAL": "60"}, "restart_backoff_initial (60.0) is longer"),
        ({"config": "missing.yaml"}, {}, "--config: no config file at"),
        ({}, {"MLOS_CONFIG": "missing.yaml"}, "MLOS_CONFIG: no config file at"),
        ({"colour": "red"}, {}, "unknown setting 'colour'"),
    ],
)
def test_invalid_values_give_one_line(
    tmp_path: Path, flags: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, flags, env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http_port: [1, 2\n", "not valid YAML (line"),
        ("- a\n- b\n", "expected a mapping of settings"),
        ("http_prot: 1\n", "unknown setting 'http_prot'"),
        ("http_port: 80.5\n", "c.yaml: http_port: 80.5 is not a port number"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, message: str) -> None:
    conf = write_config(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(tmp_path, {"config": str(conf)})


def test_empty_config_file_is_fine(tmp_path: Path) -> None:
    conf = write_config(tmp_path / "c.yaml", "# nothing yet\n")
    assert load(tmp_path, {"config": str(conf)}).http_port == 8080


def test_direct_construction_derives_the_socket(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.ipc_socket == tmp_path / "mlos.sock"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.http_port = 1  # type: ignore[misc]


def test_the_database_follows_home_unless_given(tmp_path: Path) -> None:
    assert load(tmp_path, {"home": "h"}).database_url == f"sqlite:///{tmp_path / 'h' / 'registry.db'}"
    assert Settings(home=tmp_path).database_url == f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://mlos:pw@db.internal:5432/mlos", "postgresql+psycopg://mlos:pw@db.internal:5432/mlos"),
        ("postgres://mlos@db/mlos?sslmode=require", "postgresql+psycopg://mlos@db/mlos?sslmode=require"),
        ("postgresql+psycopg://mlos@db/mlos", "postgresql+psycopg://mlos@db/mlos"),
        ("sqlite:////srv/mlos/registry.db", "sqlite:////srv/mlos/registry.db"),
    ],
)
def test_database_urls_are_normalised(tmp_path: Path, given: str, expected: str) -> None:
    assert load(tmp_path, env={"MLOS_DATABASE_URL": given}).database_url == expected


def test_a_relative_sqlite_file_is_taken_like_any_path(tmp_path: Path) -> None:
    conf = write_config(tmp_path / "etc" / "c.yaml", "database_url: sqlite:///state/registry.db\n")
    from_file = load(tmp_path, {"config": str(conf)})
    assert from_file.database_url == f"sqlite:///{tmp_path / 'etc' / 'state' / 'registry.db'}"
    from_flag = load(tmp_path, {"database_url": "sqlite:///r.db"})
    assert from_flag.database_url == f"sqlite:///{tmp_path / 'r.db'}"
    home = Path("~").expanduser()
    assert load(tmp_path, {"database_url": "sqlite:///~/r.db"}).database_url == f"sqlite:///{home / 'r.db'}"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("sqlite://", "in-memory SQLite database"),
        ("registry.db", "is not a database URL"),
        ("postgresql://u:topsecret@h:port/db", "'postgresql://u:***@h:port/db' is not a database URL"),
    ],
)
def test_bad_database_urls_give_one_line_without_the_password(
    tmp_path: Path, given: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, env={"MLOS_DATABASE_URL": given})
    assert str(caught.value).startswith("MLOS_DATABASE_URL: ")
    assert message in str(caught.value)
    assert "topsecret" not in str(caught.value)


def test_startup_models_from_flag_environment_and_file(tmp_path: Path) -> None:
    from mlos.config import StartupModel

    flag = load(tmp_path, {"models": "a=m/a.onnx, b@torch=/srv/b.pt"})
    assert flag.models == (
        StartupModel("a", tmp_path / "m" / "a.onnx"),
        StartupModel("b", Path("/srv/b.pt"), "torch"),
    )
    assert [str(m) for m in flag.models] == [f"a={tmp_path / 'm' / 'a.onnx'}", "b@torch=/srv/b.pt"]
    conf = write_config(tmp_path / "etc" / "c.yaml", "models:\n  - r@onnx=models/r\n")
    assert load(tmp_path, {"config": str(conf)}).models == (
        StartupModel("r", tmp_path / "etc" / "models" / "r", "onnx"),
    )
    assert load(tmp_path, env={"MLOS_MODELS": " "}).models == ()
    assert Settings().models == ()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("resnet", "'resnet' is not NAME=PATH or NAME@PLUGIN=PATH"),
        ("=/m", "'=/m' is not NAME=PATH"),
        ("a@=/m", "'a@=/m' is not NAME=PATH"),
        ("a=/m,a=/n", "model 'a' is named twice"),
    ],
)
def test_bad_startup_models_give_one_line(tmp_path: Path, given: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"MLOS_MODELS: {message}")):
        load(tmp_path, env={"MLOS_MODELS": given})


def test_model_roots_default_to_the_home_models_and_the_axon_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AXON_HOME", str(tmp_path / "axon"))
    settings = Settings(home=tmp_path / "home")
    assert settings.model_roots == (tmp_path / "home" / "models", tmp_path / "axon" / "cache")
    (tmp_path / "axon").mkdir()
    (tmp_path / "axon" / "config.yaml").write_text(f"cache_dir: {tmp_path / 'blobs'}\n")
    assert Settings(home=tmp_path / "home").model_roots[1] == tmp_path / "blobs"


def test_access_and_sandbox_settings(tmp_path: Path) -> None:
    conf = write_config(tmp_path / "etc" / "c.yaml", """
model_roots: [models, /srv/models]
plugin_modules: ["my_plugins.*", "other.mod:Plugin"]
plugin_executables: [bin/plugin]
plugin_python_path: [/srv/plugins]
plugin_env: [CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS=2]
plugin_limits:
  "*": {memory: 1GiB, open_files: 512}
  onnx: {memory: 256MiB, cpus: "0-1,3", cpu_quota: 1.5, cpu_weight: 50, processes: 64, user: nobody}
plugin_cgroup: "off"
restart_backoff_stable: 5
""")
    settings = load(tmp_path, {"config": str(conf)})
    assert settings.model_roots == (tmp_path / "etc" / "models", Path("/srv/models"))
    assert settings.plugin_modules == ("my_plugins.*", "other.mod:Plugin")
    assert settings.plugin_executables == (tmp_path / "etc" / "bin" / "plugin",)
    assert settings.plugin_python_path == (Path("/srv/plugins"),)
    assert settings.plugin_env == ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS=2")
    onnx = settings.plugin_limits["onnx"]
    assert (onnx.memory_bytes, onnx.cpus, onnx.cpu_quota) == (256 * 2**20, (0, 1, 3), 1.5)
    assert (onnx.cpu_weight, onnx.processes, onnx.user) == (50, 64, "nobody")
    assert settings.plugin_limits["*"].open_files == 512
    assert (settings.plugin_cgroup, settings.restart_backoff_stable) == ("off", 5.0)


def test_list_settings_from_the_environment(tmp_path: Path) -> None:
    settings = load(tmp_path, env={
        "MLOS_MODEL_ROOTS": f"{tmp_path}/a:{tmp_path}/b",
        "MLOS_PLUGIN_MODULES": "a.b:C, d.*",
        "MLOS_PLUGIN_ENV": "A=1,B",
        "MLOS_PLUGIN_LIMITS": '{"*": {memory: 64MiB}}',
    })
    assert settings.model_roots == (tmp_path / "a", tmp_path / "b")
    assert settings.plugin_modules == ("a.b:C", "d.*")
    assert settings.plugin_env == ("A=1", "B")
    assert settings.plugin_limits["*"].memory_bytes == 64 * 2**20


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLOS_PLUGIN_MODULES": "a b:C"}, "is not a module pattern"),
        ({"MLOS_PLUGIN_ENV": "1A=2"}, "'1A=2' is not NAME or NAME=value"),
        ({"MLOS_PLUGIN_LIMITS": "{onnx: {memroy: 1GiB}}"}, "onnx: unknown limit 'memroy'"),
        ({"MLOS_PLUGIN_LIMITS": "{onnx: {cpus: 3-1}}"}, "runs backwards"),
        ({"MLOS_PLUGIN_LIMITS": "{onnx: {cpu_weight: 0}}"}, "cpu_weight: 0 is not a positive"),
        ({"MLOS_PLUGIN_LIMITS": "{'a b': {}}"}, "'a b' is not a plugin name"),
        ({"MLOS_PLUGIN_LIMITS": "[1]"}, "is not a mapping"),
        ({"MLOS_PLUGIN_CGROUP": "sometimes"}, "is not auto, off or the absolute path"),
    ],
)
def test_invalid_access_and_sandbox_settings(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(tmp_path, {}, env)


def test_resource_budget_settings(tmp_path: Path) -> None:
    from mlos.resource_settings import GpuDevice, PluginDemand

    conf = write_config(tmp_path / "c.yaml", """
budget_memory: 24GiB
budget_cpus: "0"
gpus: [{index: 1, name: A100, memory_bytes: 80GiB}, 0]
gpu_sharing: yes
plugin_resources: {torch: {gpus: 1, cpus: 2}}
memory_factors: {onnx: 1.5, "*": 4}
""")
    settings = load(tmp_path, {"config": str(conf)})
    assert (settings.budget_memory, settings.budget_cpus) == (24 * 2**30, (0,))
    assert settings.gpus == (GpuDevice(0), GpuDevice(1, "A100", 80 * 2**30))
    assert settings.gpu_sharing is True
    assert settings.plugin_resources == {"torch": PluginDemand(gpus=1, cpus=2)}
    assert settings.memory_factors == {"onnx": 1.5, "*": 4.0}
    defaults = load(tmp_path)
    assert (defaults.budget_memory, defaults.budget_cpus, defaults.gpus) == (0, (), "auto")
    flags = load(tmp_path, {"gpus": "none", "budget_memory": "1GiB"})
    assert (flags.gpus, flags.budget_memory) == ("none", 2**30)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLOS_BUDGET_MEMORY": "lots"}, "MLOS_BUDGET_MEMORY: 'lots' is not a size"),
        ({"MLOS_BUDGET_CPUS": "99999"}, "MLOS_BUDGET_CPUS: CPU(s) 99999 are not available"),
        ({"MLOS_GPUS": "some"}, "MLOS_GPUS: 'some' is not auto, none or a list of GPU indexes"),
        ({"MLOS_GPUS": "0,0"}, "GPU indexes repeat"),
        ({"MLOS_PLUGIN_RESOURCES": "{torch: {gpu: 1}}"}, "torch: unknown resource 'gpu'"),
        ({"MLOS_PLUGIN_RESOURCES": "{torch: {cpus: -1}}"}, "cpus: -1 is not a whole number"),
        ({"MLOS_MEMORY_FACTORS": "{onnx: big}"}, "onnx: 'big' is not a number"),
        ({"MLOS_MEMORY_FACTORS": "{onnx: -1}"}, "onnx: -1 is not a factor from 0 to 1000"),
    ],
)
def test_bad_resource_budget_settings_give_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, env=env)
    assert message in str(caught.value) and "\n" not in str(caught.value)
