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
