"""Models registered by Axon reference instead of a path: each node installs them itself.

A model's `path` may be an Axon reference:

- `axon://NS/NAME[@VERSION]` — from the node's default Axon registry (`axon registry ...`);
- `axon://REGISTRY/NS/NAME[@VERSION]` — from the registry of that name in the node's Axon
  configuration;
- `axon+https://HOST[:PORT][/PATH]/NS/NAME[@VERSION]` (or `axon+http://`) — from the registry
  at that URL, the registry's own URL form.

Registering one installs the package into the node's Axon cache (resolved, downloaded,
checked against its digest and manifest, published atomically: :class:`axon.installer.
Installer`) and records the reference with the exact version it resolved to, so every node
loads the same version. A node that loads it — at registration, at start, or when it follows
the registry (:mod:`mlos.core.reconcile`) — installs it into its own cache if it is not there
and loads the manifest's entry file, after checking every file of the manifest against its
size and digest. No filesystem is shared between nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlos.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

__all__ = ["AxonModel", "AxonReference", "install", "is_reference"]

_SCHEMES = ("axon://", "axon+https://", "axon+http://")
_IDENT = r"[a-z0-9][a-z0-9._-]{0,63}"
_TAIL = re.compile(rf"^(?:(.*)/)?({_IDENT})/({_IDENT})(?:@([^/@\s]+))?$")


def is_reference(path: str) -> bool:
    """Whether a model path is an Axon reference rather than a file path."""
    return path.startswith(_SCHEMES)


@dataclass(frozen=True, slots=True)
class AxonReference:
    """A parsed reference: which registry (None: the default), and `ns/name@spec`."""

    registry: str | None
    namespace: str
    name: str
    spec: str = "latest"

    @classmethod
    def parse(cls, text: str) -> AxonReference:
        """Parse an `axon://` or `axon+http(s)://` reference; InvalidArgument if malformed."""
        scheme = next((s for s in _SCHEMES if text.startswith(s)), None)
        if scheme is None:
            raise InvalidArgument(f"{text!r} is not an Axon reference (axon://NS/NAME@VERSION)")
        rest = text[len(scheme) :]
        match = _TAIL.match(rest)
        if not match:
            raise InvalidArgument(
                f"{text!r} is not an Axon reference: expected axon://[REGISTRY/]NS/NAME[@VERSION] "
                "or axon+https://HOST/NS/NAME[@VERSION], names in lower case"
            )
        prefix, namespace, name, spec = match.groups()
        if scheme == "axon://":
            if prefix is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", prefix):
                raise InvalidArgument(f"{text!r}: {prefix!r} is not an Axon registry name")
            registry = prefix
        else:
            if not prefix:
                raise InvalidArgument(f"{text!r}: the registry's URL has no host")
            registry = scheme.removeprefix("axon+") + prefix
        return cls(registry, namespace, name, spec or "latest")

    @property
    def target(self) -> str:
        """`ns/name@spec`, as `axon install` takes it."""
        return f"{self.namespace}/{self.name}@{self.spec}"

    def pinned(self, version: str) -> str:
        """This reference with `version` in place of its spec, as the registry records it."""
        if self.registry is None:
            where = ""
        elif "://" in self.registry:
            return f"axon+{self.registry}/{self.namespace}/{self.name}@{version}"
        else:
            where = f"{self.registry}/"
        return f"axon://{where}{self.namespace}/{self.name}@{version}"


@dataclass(frozen=True, slots=True)
class AxonModel:
    """An installed package, as a node loads it."""

    reference: str
    """The reference pinned to the exact version installed."""
    version: str
    plugin: str
    """The plugin the manifest names."""
    entry: Path
    """The file the plugin loads."""
    root: Path
    """The version's directory in the cache."""
    files: tuple[tuple[str, int, str], ...]
    """Every file of the manifest: path (relative to `root`), size, sha256."""
    serving: dict[str, Any] = field(default_factory=dict)
    """The registration fields of the manifest's `serving` section (`instance_count`,
    `dynamic_batching`), for a registration that names neither."""


def install(text: str) -> AxonModel:
    """Install (or find installed and verified) the package `text` refers to, in this node's
    Axon cache (blocking: run it in a thread). Axon's errors become MLOS errors: a registry
    that cannot be reached is Unavailable, a reference it does not have NotFound, a package
    that fails verification FailedPrecondition."""
    from axon.config import Config
    from axon.errors import AuthError, AxonError, NotFoundError, OfflineError, RegistryError
    from axon.installer import Installer
    from axon.manifest import entrypoint, serving_fields
    from axon.reference import ModelRef

    reference = AxonReference.parse(text)
    try:
        ref = ModelRef.parse(reference.target)
        installer = Installer(Config(), registry=reference.registry)
        cached = installer.install_ref(ref).model
        manifest = installer.cache.manifest(cached)
        _count, problems = installer.cache.verify_model(cached)
        if problems:
            installer = Installer(Config(), registry=reference.registry, force=True)
            cached = installer.install_ref(ref).model
            manifest = installer.cache.manifest(cached)
    except AuthError as exc:
        raise FailedPrecondition(f"cannot install {text}: {exc}") from None
    except (RegistryError, OfflineError) as exc:
        raise Unavailable(f"cannot install {text}: {exc}") from None
    except NotFoundError as exc:
        raise NotFound(f"cannot install {text}: {exc}") from None
    except AxonError as exc:
        raise FailedPrecondition(f"cannot install {text}: {exc}") from None
    root = cached.path.resolve()
    return AxonModel(
        reference=reference.pinned(cached.version),
        version=cached.version,
        plugin=manifest.plugin.name,
        entry=root / entrypoint(manifest),
        root=root,
        files=tuple((f.path, f.size, f.sha256) for f in manifest.files),
        serving=serving_fields(manifest),
    )
