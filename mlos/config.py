"""Server settings: command-line flags, `MLOS_*` environment variables, a YAML file, defaults.

Each setting is a key of :data:`KEYS`. Its value comes from the first of these that has it:

1. a command-line flag of `mlos serve` (`--http-port 9000`);
2. the environment variable `MLOS_<KEY>` (`MLOS_HTTP_PORT=9000`; an empty value counts as unset);
3. the YAML config file: `--config FILE`, else `$MLOS_CONFIG`, else `<home>/config.yaml` when it
   exists (`http_port: 9000`);
4. the default.

Invalid values raise :class:`ConfigError` naming where the value came from, in one line::

    MLOS_HTTP_PORT: 'eighty' is not a port number (an integer from 0 to 65535)

docs/configuration.md documents every key; a test checks that it does.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from mlos.database_url import DEFAULT_FILE, anchor
from mlos.errors import InvalidArgument
from mlos.names import NAME
from mlos.resource_settings import GpuDevice, PluginDemand, parse_gpu_setting
from mlos.sandbox.limits import Limits, format_cpus, parse_cpus, parse_size
from mlos.wire.roles import ROLES

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "KEYS",
    "ConfigError",
    "Key",
    "Settings",
    "StartupModel",
    "default_model_roots",
    "is_loopback",
]

ENV_PREFIX = "MLOS_"
CONFIG_ENV = "MLOS_CONFIG"
"""The environment variable naming the YAML config file."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULE_PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]!:-]+$")


class ConfigError(InvalidArgument):
    """A setting has an invalid value, or the config file cannot be read."""


# ----- value parsers: each takes a flag, environment or YAML value and returns the setting ----


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a non-empty string")
    return value.strip()


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value.expanduser()
    return Path(_text(value)).expanduser()


def _whole(value: Any, low: int, high: int, what: str) -> int:
    """`value` as an integer from `low` to `high` (not a bool or a float), else ValueError."""
    try:
        if isinstance(value, bool | float):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if not low <= number <= high:
        raise ValueError(f"{value!r} is not {what}")
    return number


def _port(value: Any) -> int:
    return _whole(value, 0, 65535, "a port number (an integer from 0 to 65535)")


def _optional_port(value: Any) -> int | None:
    """A port, or None for `off` (or YAML's null): the API it serves is not served apart."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
        return None
    return _port(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (use true or false)")


def _database_url(value: Any) -> str:
    from mlos.database_url import normalize

    return normalize(_text(value))


@dataclass(frozen=True)
class StartupModel:
    """A model the server registers at start (the `models` setting): `NAME[@PLUGIN]=PATH`."""

    name: str
    path: Path
    plugin: str = ""
    """The plugin to serve it, registered and loaded when needed; empty: chosen by the file's
    extension among the plugins already loaded."""

    def __str__(self) -> str:
        plugin = f"@{self.plugin}" if self.plugin else ""
        return f"{self.name}{plugin}={self.path}"


def _models(value: Any) -> tuple[StartupModel, ...]:
    """`NAME[@PLUGIN]=PATH` entries: one string separated by commas, or a YAML list."""
    if isinstance(value, tuple) and all(isinstance(v, StartupModel) for v in value):
        return value
    if isinstance(value, str):
        entries: list[Any] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list):
        entries = value
    else:
        raise ValueError(f"{value!r} is not a list of NAME[@PLUGIN]=PATH entries")
    models: list[StartupModel] = []
    for entry in entries:
        head, sep, path = str(entry).strip().partition("=")
        name, at, plugin = head.partition("@")
        if not (sep and name.strip() and path.strip()) or (at and not plugin.strip()):
            raise ValueError(f"{entry!r} is not NAME=PATH or NAME@PLUGIN=PATH")
        models.append(StartupModel(name.strip(), Path(path.strip()).expanduser(), plugin.strip()))
    names = [model.name for model in models]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"model {repeated[0]!r} is named twice")
    return tuple(models)


def _log_level(value: Any) -> str:
    level = str(value).strip().lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"{value!r} is not a log level (one of {', '.join(LOG_LEVELS)})")
    return level


LOG_FORMATS = ("default", "ISO8601", "json")
TRACE_LEVELS = ("OFF", "TIMESTAMPS", "TENSORS")


def _log_format(value: Any) -> str:
    text = str(value).strip()
    for known in LOG_FORMATS:
        if text.lower() == known.lower():
            return known
    raise ValueError(f"{value!r} is not a log format (one of {', '.join(LOG_FORMATS)})")


def _trace_level(value: Any) -> tuple[str, ...]:
    """Trace levels: `OFF`, or `TIMESTAMPS` and/or `TENSORS` (a YAML list or a comma list)."""
    levels = tuple(dict.fromkeys(str(item).strip().upper() for item in _items(value, ",")))
    if not levels or any(level not in TRACE_LEVELS for level in levels):
        raise ValueError(f"{value!r} is not OFF or a list of TIMESTAMPS and TENSORS")
    if "OFF" in levels and len(levels) > 1:
        raise ValueError(f"{value!r}: OFF cannot be combined with another level")
    return levels


def _trace_rate(value: Any) -> int:
    return _whole(value, 1, 2**32 - 1, "a trace rate (an integer from 1)")


def _trace_count(value: Any) -> int:
    return _whole(value, -1, 2**31 - 1, "a trace count (-1 for no limit, or from 0)")


def _http_url(value: Any) -> str:
    text = _text(value)
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", text):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return text


def _size(value: Any) -> int:
    """A positive byte count: `67108864`, `64MiB`, `64M` (K, M and G are powers of 1024)."""
    return parse_size(value)


def _items(value: Any, separator: str) -> list[Any]:
    """A YAML list as it is; a flag or environment string split at `separator`."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        return [item for item in (part.strip() for part in value.split(separator)) if item]
    raise ValueError(f"{value!r} is not a list")


def _path_list(value: Any) -> tuple[Path, ...]:
    """Paths: a YAML list, or one string of paths separated by ':' (like PATH)."""
    paths = []
    for item in _items(value, os.pathsep):
        if isinstance(item, Path):
            paths.append(item.expanduser())
            continue
        if not isinstance(item, str) or not item.strip() or "\0" in item:
            raise ValueError(f"{item!r} is not a path")
        paths.append(Path(item.strip()).expanduser())
    return tuple(paths)


def _module_patterns(value: Any) -> tuple[str, ...]:
    """Import strings or patterns ("pkg.mod:Class", "pkg.*"): a YAML list or a comma list."""
    patterns = []
    for item in _items(value, ","):
        if not isinstance(item, str) or not _MODULE_PATTERN.match(item.strip()):
            raise ValueError(f"{item!r} is not a module pattern such as 'package.module:Class'")
        patterns.append(item.strip())
    return tuple(patterns)


def _env_entries(value: Any) -> tuple[str, ...]:
    """Environment entries for plugin processes: "NAME" (passed through) or "NAME=value"."""
    entries = []
    for item in _items(value, ","):
        if not isinstance(item, str):
            raise ValueError(f"{item!r} is not NAME or NAME=value")
        name = item.partition("=")[0]
        if not _ENV_NAME.match(name) or "\0" in item:
            raise ValueError(f"{item!r} is not NAME or NAME=value")
        entries.append(item)
    return tuple(entries)


def _plugin_limits(value: Any) -> dict[str, Limits]:
    """Limits by plugin name ("*": every plugin): a YAML mapping, or the same as YAML text."""
    limits: dict[str, Limits] = {}
    for name, entry in _yaml_mapping(value, "plugin names to limits").items():
        if not isinstance(name, str) or not (name == "*" or NAME.match(name)):
            raise ValueError(f"{name!r} is not a plugin name or '*'")
        try:
            limits[name] = Limits.from_mapping(entry or {})
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return limits


def _yaml_mapping(value: Any, what: str) -> Mapping[Any, Any]:
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"{value!r} is not a YAML mapping of {what}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{value!r} is not a mapping of {what}")
    return value


def _plugin_resources(value: Any) -> dict[str, PluginDemand]:
    """GPUs and dedicated CPU cores by plugin name: `{onnx: {gpus: 1, cpus: 2}}`."""
    demands: dict[str, PluginDemand] = {}
    for name, entry in _yaml_mapping(value, "plugin names to resources").items():
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(f"{name!r} is not a plugin name")
        try:
            demands[name] = PluginDemand.from_mapping(entry or {})
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return demands


def _memory_factors(value: Any) -> dict[str, float]:
    """Model memory as a multiple of its file size, by plugin name ("*": any other)."""
    factors: dict[str, float] = {}
    for name, factor in _yaml_mapping(value, "plugin names to factors").items():
        if not isinstance(name, str) or not (name == "*" or NAME.match(name)):
            raise ValueError(f"{name!r} is not a plugin name or '*'")
        if isinstance(factor, bool) or not isinstance(factor, int | float | str):
            raise ValueError(f"{name}: {factor!r} is not a number")
        try:
            number = float(factor)
        except ValueError:
            raise ValueError(f"{name}: {factor!r} is not a number") from None
        if not 0.0 <= number <= 1000.0:
            raise ValueError(f"{name}: {factor!r} is not a factor from 0 to 1000")
        factors[name] = number
    return factors


def _budget_cpus(value: Any) -> tuple[int, ...]:
    """A CPU list ("0-3,6") the server may run on."""
    cpus = parse_cpus(str(value))
    if hasattr(os, "sched_getaffinity"):
        usable = os.sched_getaffinity(0)
        outside = tuple(cpu for cpu in cpus if cpu not in usable)
        if outside:
            raise ValueError(
                f"CPU(s) {format_cpus(outside)} are not available; this server may use "
                f"{format_cpus(tuple(sorted(usable)))}"
            )
    return cpus


def _gpus(value: Any) -> str | tuple[GpuDevice, ...]:
    return parse_gpu_setting(value)


def _cgroup(value: Any) -> str:
    text = _text(value)
    if text in ("auto", "off") or text.startswith("/"):
        return text
    raise ValueError(f"{value!r} is not auto, off or the absolute path of a cgroup v2 directory")


def _microseconds(value: Any) -> int:
    return _whole(value, 0, 1_000_000, "a number of microseconds from 0 to 1000000")


def _seconds(value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{value!r} is not a positive number of seconds")
    return seconds


def _seconds_or_zero(value: Any) -> float:
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            if float(value) == 0:
                return 0.0
        except ValueError:
            pass
    try:
        return _seconds(value)
    except ValueError:
        raise ValueError(f"{value!r} is not 0 or a positive number of seconds") from None


def _pairs(value: Any, form: str) -> list[tuple[Any, Any]]:
    """The items of a YAML mapping, or of `KEY=VALUE,...` text (a flag or environment value);
    ValueError names an item that is not of the `form` given (`UID=ROLE`)."""
    if isinstance(value, Mapping):
        return list(value.items())
    pairs = []
    for item in str(value).split(","):
        if item.strip():
            key, sep, text = item.partition("=")
            if not sep:
                raise ValueError(f"{item.strip()!r} is not {form}")
            pairs.append((key.strip(), text.strip()))
    return pairs


def _uid_roles(value: Any) -> dict[int, str]:
    """`{1000: admin}` (YAML) or `1000=admin,1001=inference` (flag or environment)."""
    table: dict[int, str] = {}
    for uid, role in _pairs(value, "UID=ROLE"):
        try:
            if isinstance(uid, bool):
                raise ValueError
            number = int(uid)
        except (TypeError, ValueError):
            raise ValueError(f"{uid!r} is not a uid") from None
        if str(role).lower() not in ROLES:
            raise ValueError(f"{role!r} is not a role ({', '.join(ROLES)})")
        table[number] = str(role).lower()
    return table


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/s)?\s*(?::\s*(\d+))?\s*$")
DEFAULT_RATE_LIMITS = {
    "anonymous": "5000/s:10000",
    "viewer": "1000/s:2000",
    "inference": "20000/s:40000",
    "operator": "1000/s:2000",
    "admin": "20000/s:40000",
}


def _rate_limits(value: Any) -> dict[str, str]:
    """`{inference: 100/s:200}` (YAML) or `inference=100/s:200,viewer=10/s` (flag, environment);
    the roles not named keep their defaults."""
    table = dict(DEFAULT_RATE_LIMITS)
    for role, given in _pairs(value, "ROLE=RATE"):
        name, rate = str(role), str(given)
        if name.lower() not in DEFAULT_RATE_LIMITS:
            raise ValueError(f"{name!r} is not a role or 'anonymous'")
        match = _RATE.match(rate)
        burst = match.group(2) if match is not None else None
        if match is None or float(match.group(1)) <= 0 or (burst and int(burst) < 1):
            raise ValueError(f"{rate!r} is not a rate (calls per second and burst: 100/s:200)")
        table[name.lower()] = rate
    return table


def _count(value: Any) -> int:
    try:
        if isinstance(value, bool | float):
            raise ValueError
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise ValueError(f"{value!r} is not a positive whole number")
    return count


def is_loopback(host: str) -> bool:
    """Whether `host` names the loopback interface only."""
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class Key:
    """One documented setting: its name, how to parse it, its default and what it does."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    flag: str | None = None
    env_prefix: ClassVar[str] = ENV_PREFIX
    """What the name of the key's environment variable starts with."""

    @property
    def env(self) -> str:
        """The environment variable that sets the key."""
        return self.env_prefix + self.name.upper()


DEFAULT_HOME = Path("~/.mlos")
_HOME = DEFAULT_HOME.expanduser()

KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("home", _path, DEFAULT_HOME,
            "Directory of the server's state: the registry database, models, sockets.",
            "--home"),
        Key("host", _text, "127.0.0.1",
            "Address the REST and gRPC servers bind; loopback unless you mean otherwise.",
            "--host"),
        Key("http_port", _port, 8080, "REST port; 0 picks a free port.", "--http-port"),
        Key("grpc_port", _port, 8081, "gRPC port; 0 picks a free port.", "--grpc-port"),
        Key("metrics_port", _optional_port, None,
            "Port of a separate HTTP server that answers only GET /metrics; off by default "
            "(/metrics is on the REST port either way). 0 picks a free port.",
            "--metrics-port"),
        Key("ipc_socket", _path, None,
            "Unix socket of the local IPC API.", "--ipc-socket"),
        Key("database_url", _database_url, None,
            "Registry database: sqlite:///PATH (embedded) or postgresql://USER@HOST:PORT/DB "
            "(shared by several nodes).", "--database-url"),
        Key("log_level", _log_level, "info",
            f"Server log level: {', '.join(LOG_LEVELS)}.", "--log-level"),
        Key("log_format", _log_format, "default",
            "Server log lines: default, ISO8601 (UTC times) or json (one JSON object a line, "
            "with the request id and trace of the call it belongs to).", "--log-format"),
        Key("trace_level", _trace_level, ("OFF",),
            "Trace level of inference requests: OFF, or TIMESTAMPS and/or TENSORS (Triton's "
            "trace_level; changeable through /v2/trace/setting)."),
        Key("trace_rate", _trace_rate, 1000,
            "Trace one inference request in this many (Triton's trace_rate)."),
        Key("trace_count", _trace_count, -1,
            "Requests to trace before tracing stops; -1: no limit (Triton's trace_count)."),
        Key("trace_endpoint", _http_url, None,
            "OTLP/HTTP endpoint spans are exported to (default "
            "http://127.0.0.1:4318/v1/traces, an OpenTelemetry collector on this host)."),
        Key("max_body_bytes", _size, 64 * 2**20,
            "Largest REST request body accepted (413 beyond); 64MiB style sizes work."),
        Key("grpc_max_message_bytes", _size, 256 * 2**20,
            "Largest gRPC message received or sent (RESOURCE_EXHAUSTED beyond)."),
        Key("restart_backoff_initial", _seconds, 0.5,
            "Seconds before the first restart of a plugin process that died."),
        Key("restart_backoff_max", _seconds, 30.0,
            "Longest wait between restarts; the wait doubles from the initial one up to this."),
        Key("restart_backoff_stable", _seconds, 60.0,
            "Seconds a restarted plugin must stay up for its next restart to wait the initial "
            "time again."),
        Key("upgrade_drain_timeout", _seconds, 30.0,
            "Seconds a plugin process replaced by an upgrade may take to finish its calls in "
            "flight before it is stopped."),
        Key("model_roots", _path_list, None,
            "Directories model paths must lie under (default <home>/models and the Axon cache)."),
        Key("plugin_modules", _module_patterns, (),
            "Import strings (or patterns) of plugin classes the API may name as `module`."),
        Key("plugin_executables", _path_list, (),
            "Executables (or directories of them) the API may name as a plugin `executable`."),
        Key("plugin_python_path", _path_list, (),
            "Directories put on the Python path of plugin processes (for `module` plugins)."),
        Key("plugin_env", _env_entries, (),
            "Extra environment of plugin processes: NAME (passed through) or NAME=value."),
        Key("plugin_limits", _plugin_limits, None,
            "Resource limits of plugin processes by plugin name, '*' for every plugin."),
        Key("plugin_cgroup", _cgroup, "auto",
            "cgroup v2 directory for plugin processes: auto, off, or a delegated directory."),
        Key("budget_memory", _size, None,
            "Memory the resource budget hands out to plugins and models (default: the "
            "machine's); a model load beyond it is refused with 507.", "--budget-memory"),
        Key("budget_cpus", _budget_cpus, None,
            "CPUs the resource budget covers, as a list such as 0-3,6 (default: every CPU the "
            "server may run on).", "--budget-cpus"),
        Key("gpus", _gpus, "auto",
            "GPUs to assign to plugins: auto (NVML, when a driver and devices are there), "
            "none, or a list of devices (indexes, or {index, name, memory_bytes}).", "--gpus"),
        Key("gpu_sharing", _bool, False,
            "Whether two plugins may be assigned the same GPU (otherwise a plugin asking for "
            "a GPU when none is free is refused with 507)."),
        Key("plugin_resources", _plugin_resources, None,
            "GPUs and dedicated CPU cores by plugin name, `{onnx: {gpus: 1, cpus: 2}}`."),
        Key("memory_factors", _memory_factors, None,
            "Estimated model memory as a multiple of its file size, by plugin name "
            "('*': others); defaults onnx 2, torch 2, tensorflow 3, * 2."),
        Key("busy_poll_us", _microseconds, 500,
            "Microseconds the server keeps polling its sockets after a call instead of sleeping "
            "(0: off). Saves a wake-up per call; costs at most that much CPU per call."),
        Key("plugin_busy_poll_us", _microseconds, 0,
            "The same for plugin processes; worth it with CPUs to spare (more than two)."),
        Key("models", _models, (),
            "Models to register at start if missing, NAME[@PLUGIN]=PATH separated by commas; "
            "the plugin is registered and loaded when needed.", "--models"),
        Key("demo", _bool, False,
            "Build the demo model and serve it with the onnx plugin at start.", "--demo"),
        Key("auth", _bool, True,
            "Require a token for every call but liveness and readiness (false: --no-auth, "
            "for local development on a loopback address only)."),
        Key("ipc_uid_roles", _uid_roles, None,
            "Roles of local users on the IPC socket without a token, `UID=ROLE,...`; "
            "default: the server's own user is admin."),
        Key("audit_log", _path, None,
            "File the audit log is appended to (JSON lines); default `<home>/audit.log`."),
        Key("tls_cert", _path, None,
            "PEM certificate (chain) for REST (https) and gRPC; with tls_key, TLS is on."),
        Key("tls_key", _path, None, "PEM private key of tls_cert."),
        Key("tls_client_ca", _path, None,
            "PEM CA bundle; when set, clients must present a certificate it signed."),
        Key("rate_limits", _rate_limits, None,
            "Calls per second and burst per role and for anonymous callers (per peer), "
            "`inference=100/s:200,...`; roles not named keep their defaults."),
        Key("max_in_flight_per_model", _count, 512,
            "Inference calls waiting or running per model; more are refused at once with 503 "
            "(UNAVAILABLE) instead of queueing."),
        Key("max_inputs", _count, 1024,
            "Inputs of one inference request, and outputs it asks for (400 beyond)."),
        Key("max_tensor_elements", _count, 2**30,
            "Elements of one tensor, by its shape (400 beyond)."),
        Key("max_tensor_bytes", _size, 2**30,
            "Bytes of one tensor's data, by its shape (400 beyond); 1GiB style sizes work."),
        Key("max_batch_size", _count, 65536,
            "Largest batch (first dimension) for any model that batches, whatever it allows."),
        Key("max_string_bytes", _size, 64 * 2**10,
            "Bytes of any string in a request: names, paths, ids, parameters (400 beyond)."),
        Key("node_id", _text, None,
            "This node's name among the nodes sharing a registry (default HOSTNAME-RESTPORT).",
            "--node-id"),
        Key("reconcile_interval", _seconds, 2.0,
            "Seconds between reads of the registry's desired state (and heartbeats); "
            "on PostgreSQL a change is also applied at once when notified."),
        Key("drain_delay", _seconds_or_zero, 0.0,
            "Seconds a stopping node keeps serving with readiness false before it closes its "
            "ports, so that load balancers take it out first."),
        Key("drain_seconds", _seconds, 30.0,
            "Longest wait for requests in flight when the node stops (after drain_delay)."),
    )
}
"""Every setting, in documentation order."""


@dataclass(frozen=True)
class Settings:
    """The effective settings of one MLOS server.

    Build them with :meth:`load` (flags, environment, file, defaults) or directly for tests;
    paths given directly are taken as they are.
    """

    home: Path = _HOME
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 8081
    metrics_port: int | None = None
    """A separate port for GET /metrics, or None (only the REST port serves it)."""
    ipc_socket: Path = Path()
    """The IPC socket; the empty path stands for `<home>/mlos.sock`."""
    database_url: str = ""
    """The registry database; empty stands for the SQLite file `<home>/registry.db`."""
    log_level: str = "info"
    log_format: str = "default"
    trace_level: tuple[str, ...] = ("OFF",)
    trace_rate: int = 1000
    trace_count: int = -1
    trace_endpoint: str | None = None
    max_body_bytes: int = 64 * 2**20
    grpc_max_message_bytes: int = 256 * 2**20
    restart_backoff_initial: float = 0.5
    restart_backoff_max: float = 30.0
    restart_backoff_stable: float = 60.0
    upgrade_drain_timeout: float = 30.0
    model_roots: tuple[Path, ...] = ()
    """Where model paths must lie; empty stands for `<home>/models` and the Axon cache."""
    plugin_modules: tuple[str, ...] = ()
    plugin_executables: tuple[Path, ...] = ()
    plugin_python_path: tuple[Path, ...] = ()
    plugin_env: tuple[str, ...] = ()
    plugin_limits: Mapping[str, Limits] = dataclasses.field(default_factory=dict)
    plugin_cgroup: str = "auto"
    budget_memory: int = 0
    """The resource budget's memory; 0 stands for the machine's."""
    budget_cpus: tuple[int, ...] = ()
    """The resource budget's CPUs; empty stands for every CPU the server may run on."""
    gpus: str | tuple[GpuDevice, ...] = "auto"
    gpu_sharing: bool = False
    plugin_resources: Mapping[str, PluginDemand] = dataclasses.field(default_factory=dict)
    memory_factors: Mapping[str, float] = dataclasses.field(default_factory=dict)
    busy_poll_us: int = 500
    plugin_busy_poll_us: int = 0
    models: tuple[StartupModel, ...] = ()
    demo: bool = False
    auth: bool = True
    ipc_uid_roles: Mapping[int, str] | None = None
    """Roles of local users on the IPC socket; None stands for {the server's uid: admin}."""
    audit_log: Path = Path()
    """The audit log; the empty path stands for `<home>/audit.log`."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    rate_limits: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS)
    )
    max_in_flight_per_model: int = 512
    max_inputs: int = 1024
    max_tensor_elements: int = 2**30
    max_tensor_bytes: int = 2**30
    max_batch_size: int = 65536
    max_string_bytes: int = 64 * 2**10
    node_id: str = ""
    """This node's name in the cluster; empty stands for HOSTNAME-RESTPORT."""
    reconcile_interval: float = 2.0
    drain_delay: float = 0.0
    drain_seconds: float = 30.0
    config_file: Path | None = dataclasses.field(default=None, compare=False)
    """The YAML file the settings were read from, if any (not a setting itself)."""

    def __post_init__(self) -> None:
        if self.ipc_socket == Path():
            object.__setattr__(self, "ipc_socket", self.home / "mlos.sock")
        if self.audit_log == Path():
            object.__setattr__(self, "audit_log", self.home / "audit.log")
        if self.ipc_uid_roles is None:
            object.__setattr__(self, "ipc_uid_roles", {os.getuid(): "admin"})
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key go together: give both or neither")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError("tls_client_ca needs tls_cert and tls_key")
        for name in ("tls_cert", "tls_key", "tls_client_ca"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ConfigError(f"{name}: no file at {path}")
        if not self.auth and not is_loopback(self.host):
            raise ConfigError(
                f"auth is off and host is {self.host}: without auth the server binds a "
                "loopback address only"
            )
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / DEFAULT_FILE}")
        if not self.model_roots:
            object.__setattr__(self, "model_roots", default_model_roots(self.home))
        if self.restart_backoff_initial > self.restart_backoff_max:
            raise ConfigError(
                f"restart_backoff_initial ({self.restart_backoff_initial}) is "
                f"longer than restart_backoff_max ({self.restart_backoff_max})"
            )
        ports = [("http_port", self.http_port), ("grpc_port", self.grpc_port)]
        if self.metrics_port is not None:
            ports.append(("metrics_port", self.metrics_port))
        for index, (name, port) in enumerate(ports):
            for other, other_port in ports[index + 1 :]:
                if port and port == other_port:
                    raise ConfigError(f"{name} and {other} are both {port}")

    @classmethod
    def load(
        cls,
        flags: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        cwd: Path | None = None,
    ) -> Settings:
        """Settings from `flags`, then `env` (default `os.environ`), the YAML file, defaults.

        `flags` maps key names to values; None means "not given". Its optional `config` entry
        names the YAML file (as `--config` does). Relative paths are taken from `cwd` (default
        the working directory) for flags and environment, and from the file's directory for
        values in the file.
        """
        flags = {k: v for k, v in (flags or {}).items() if v is not None}
        env = os.environ if env is None else env
        base = Path.cwd() if cwd is None else cwd
        unknown = set(flags) - set(KEYS) - {"config"}
        if unknown:
            raise ConfigError(f"unknown setting {sorted(unknown)[0]!r}")

        def given(key: Key) -> tuple[Any, str, Path] | None:
            if key.name in flags:
                return flags[key.name], key.flag or key.name, base
            if env.get(key.env):
                return env[key.env], key.env, base
            return None

        file_path = _config_file(flags, env, base, given(KEYS["home"]))
        document: dict[str, tuple[Any, str, Path]] = {}
        if file_path is not None:
            document = {
                name: (raw, f"{file_path}: {name}", file_path.parent)
                for name, raw in _read_yaml(file_path).items()
            }

        values: dict[str, Any] = {}
        for key in KEYS.values():
            source = given(key) or document.get(key.name)
            if source is None:
                if key.default is not None:
                    values[key.name] = key.parse(key.default)
                continue
            raw, origin, relative_to = source
            try:
                value = key.parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{origin}: {exc}") from None
            if isinstance(value, Path) and not value.is_absolute():
                value = relative_to / value
            elif key.name == "database_url":
                value = anchor(value, relative_to)
            elif key.name == "models":
                value = tuple(
                    dataclasses.replace(model, path=relative_to / model.path)
                    if not model.path.is_absolute()
                    else model
                    for model in value
                )
            elif isinstance(value, tuple) and value and isinstance(value[0], Path):
                value = tuple(path if path.is_absolute() else relative_to / path for path in value)
            values[key.name] = value
        return cls(**values, config_file=file_path)


def default_model_roots(home: Path) -> tuple[Path, ...]:
    """`<home>/models` and the Axon cache (`$AXON_HOME/cache`, or Axon's `cache_dir`)."""
    from axon.config import Config, axon_home
    from axon.errors import AxonError

    try:
        cache = Config().cache_dir
    except AxonError:  # an unreadable Axon config: its default cache
        cache = axon_home() / "cache"
    return (Path(home).expanduser() / "models", cache)


def _config_file(
    flags: Mapping[str, Any], env: Mapping[str, str], base: Path, home: tuple[Any, str, Path] | None
) -> Path | None:
    """The YAML file to read: `--config`, `$MLOS_CONFIG`, or `<home>/config.yaml` if it exists."""
    explicit: Any = flags.get("config") or env.get(CONFIG_ENV)
    if explicit:
        path = base / Path(str(explicit)).expanduser()
        if not path.is_file():
            origin = "--config" if flags.get("config") else CONFIG_ENV
            raise ConfigError(f"{origin}: no config file at {path}")
        return path
    if home is not None:
        try:
            home_dir = base / _path(home[0])
        except ValueError as exc:
            raise ConfigError(f"{home[1]}: {exc}") from None
    else:
        home_dir = DEFAULT_HOME.expanduser()
    candidate = home_dir / "config.yaml"
    return candidate if candidate.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
    """The settings in a YAML file: a mapping of known keys."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    for name in document:
        if name not in KEYS:
            known = ", ".join(KEYS)
            raise ConfigError(f"{path}: unknown setting {name!r} (known: {known})")
    return document
