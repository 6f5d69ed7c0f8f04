"""What the API may start and read: plugin sources and model paths.

Whoever can reach the management API can register plugins and models, so what that lets them
run and read is decided here, from the server's configuration file — never from the API:

* a plugin named by an installed entry point (group `mlos.plugins`) may always be registered;
* a `module` source ("package.module:Class") only when it matches one of `plugin_modules`;
* an `executable` source only when it resolves (symbolic links followed) to a file listed in
  `plugin_executables`, or under a directory listed there;
* a model path only when it resolves (`..` and symbolic links followed) to a place under one of
  `model_roots`.

Anything else is :class:`~mlos.errors.PermissionDenied`, before anything is run or read.
Text that cannot be a name or a path — NUL bytes, control characters, unencodable characters —
is :class:`~mlos.errors.InvalidArgument`.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from mlos.errors import InvalidArgument, NotFound, PermissionDenied

__all__ = ["AccessPolicy", "check_text"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_IMPORT_STRING = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}(\.{_IDENTIFIER})*$")
_MAX_TEXT = 4096


def check_text(what: str, value: str) -> None:
    """InvalidArgument when `value` holds a NUL byte, a control character or a character that no
    file name can hold (an unpaired surrogate), or is longer than 4096 characters."""
    if len(value) > _MAX_TEXT:
        raise InvalidArgument(f"{what} is longer than {_MAX_TEXT} characters")
    bad = _CONTROL.search(value)
    if bad is not None:
        raise InvalidArgument(
            f"{what} {value!r} holds the control character {bad.group()!r}"
            if bad.group() != "\x00"
            else f"{what} {value!r} holds a NUL byte"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{what} {value!r} is not valid Unicode text") from None


class AccessPolicy:
    """The configured allow-lists (see the module documentation)."""

    def __init__(
        self,
        *,
        model_roots: Iterable[Path],
        plugin_modules: Iterable[str] = (),
        plugin_executables: Iterable[Path] = (),
    ) -> None:
        self.model_roots = tuple(Path(root).expanduser() for root in model_roots)
        self.plugin_modules = tuple(plugin_modules)
        self.plugin_executables = tuple(Path(path).expanduser() for path in plugin_executables)

    # -- plugins ------------------------------------------------------------------------------

    def plugin_source(self, kind: str, source: str) -> str:
        """The source to record for a plugin registered with `kind` and `source`.

        Entry points come back as they are (whether one is installed is checked when it is
        registered and when it starts); modules as they are once allowed; executables as the
        absolute path they resolve to, so that the program started later is the one allowed now.
        """
        check_text(f"plugin {kind.replace('_', ' ')}", source)
        if kind == "entry_point":
            return source
        if kind == "module":
            if not _IMPORT_STRING.match(source):
                raise InvalidArgument(
                    f"plugin module {source!r} must look like 'package.module:Class'"
                )
            if not any(fnmatch.fnmatchcase(source, pattern) for pattern in self.plugin_modules):
                raise PermissionDenied(
                    f"plugin module {source!r} is not allowed: the API may name only installed "
                    "entry points, and module sources listed in the server's configuration "
                    "(plugin_modules)"
                )
            return source
        if kind == "executable":
            return self._executable(source)
        raise InvalidArgument(f"unknown plugin source kind {kind!r}")

    def _executable(self, source: str) -> str:
        if os.sep in source:
            candidate = Path(source).expanduser()
        else:
            found = shutil.which(source)
            candidate = Path(found) if found is not None else Path("/nonexistent") / source
        resolved = Path(os.path.realpath(candidate))
        if not any(_within(resolved, Path(os.path.realpath(allowed)), exact_file=True)
                   for allowed in self.plugin_executables):
            raise PermissionDenied(
                f"plugin executable {source!r} is not allowed: the API may name only installed "
                "entry points, and executables listed in the server's configuration "
                "(plugin_executables)"
            )
        if not resolved.is_file() or not os.access(resolved, os.X_OK):
            raise InvalidArgument(f"plugin executable {source!r} is not an executable file")
        return str(resolved)

    def plugin_interpreter(self, given: str) -> str:
        """The Python interpreter to record for a plugin whose host runs in `given` (an
        interpreter, or a virtual environment's directory: its ``bin/python``).

        It must be allowed by `plugin_executables` (the interpreter, or a directory above it,
        named as given or as it resolves). The path is recorded absolute but unresolved: a
        virtual environment's ``bin/python`` is a link to its base interpreter, and only the
        link makes Python use the environment's packages.
        """
        check_text("plugin python", given)
        try:
            path = Path(os.path.abspath(Path(given).expanduser()))
            if path.is_dir():
                path = path / "bin" / "python"
            real = Path(os.path.realpath(path))
            usable = real.is_file() and os.access(real, os.X_OK)
        except (OSError, RuntimeError) as exc:  # a name too long, a link loop, no such user
            raise InvalidArgument(f"plugin python {given!r} is not a usable path: {exc}") from None
        if not any(
            _within(path, Path(os.path.abspath(allowed)), exact_file=True)
            or _within(real, Path(os.path.realpath(allowed)), exact_file=True)
            for allowed in self.plugin_executables
        ):
            raise PermissionDenied(
                f"plugin python {given!r} is not allowed: interpreters and virtual environments "
                "must be listed in the server's configuration (plugin_executables)"
            )
        if not usable:
            raise InvalidArgument(f"plugin python {given!r} is not an executable file")
        return str(path)

    # -- models -------------------------------------------------------------------------------

    def model_path(self, text: str) -> Path:
        """The resolved path of a model file or directory under a model root.

        InvalidArgument for text that is no path; PermissionDenied for a path that resolves
        outside every model root (whether it exists is not revealed); NotFound for a path under
        a root that does not exist.
        """
        if not text:
            raise InvalidArgument("a model needs a path to its file or directory")
        check_text("model path", text)
        try:
            resolved = Path(os.path.realpath(Path(text).expanduser()))
        except (OSError, RuntimeError, ValueError) as exc:
            raise InvalidArgument(f"model path {text!r} cannot be resolved: {exc}") from None
        roots = [Path(os.path.realpath(root)) for root in self.model_roots]
        if not any(_within(resolved, root) for root in roots):
            shown = ", ".join(str(root) for root in self.model_roots) or "none"
            raise PermissionDenied(
                f"model path {text!r} is outside the server's model roots ({shown}); "
                "place the model there or add its directory to model_roots in the server's "
                "configuration"
            )
        try:
            exists = resolved.exists()
        except OSError as exc:  # a name longer than the file system takes
            raise InvalidArgument(f"model path {text!r} cannot be resolved: {exc}") from None
        if not exists:
            raise NotFound(f"model path {text!r} does not exist")
        return resolved


def _within(path: Path, allowed: Path, *, exact_file: bool = False) -> bool:
    """Whether `path` is `allowed` or lies under the directory `allowed`."""
    if path == allowed:
        return True
    if exact_file and not allowed.is_dir():
        return False
    return path.is_relative_to(allowed) and allowed != path
