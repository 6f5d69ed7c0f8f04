"""Reconciliation: a node follows the desired state in the registry that several nodes share.

The registry (:mod:`mlos.core.store`) holds what should be served — plugins and whether they
run, model versions and whether they are loaded, tokens with their rate limits and
revocations. Any node may change it; every node runs a :class:`Reconciler` that reads it and
makes the node match, the way a Kubernetes controller works a level, not an event:

- it reads the whole desired state, compares it with what the node holds, and applies the
  differences — starts or stops plugins, loads, unloads or drops model versions, takes the
  token table as it is — without writing anything back;
- it runs at once when the registry says it changed (PostgreSQL `LISTEN` on
  :data:`mlos.core.store.CHANNEL`, which every write notifies), and every `interval` seconds
  whatever happens (the only trigger on SQLite, and the safety net when a notification is
  lost while the listening connection is down);
- after each pass it writes the node's heartbeat (:mod:`mlos.core.nodes`).

A pass that read the registry while this node was writing to it reads again, so that it never
undoes a write of its own. The node is `synced` once a pass has applied everything (its
readiness waits for that); `converged` says whether the latest pass did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import make_url

from mlos.core.models import ModelRegistry
from mlos.core.nodes import NodeBook, NodeReport
from mlos.core.plugins import PluginRegistry
from mlos.core.store import CHANNEL, ModelRecord, PluginRecord, RegistryStore
from mlos.core.tokens import TokenBook, TokenRecord
from mlos.errors import MLOSError

__all__ = ["DesiredState", "Reconciled", "Reconciler"]

log = logging.getLogger("mlos.reconcile")

_LISTEN_RETRY_MAX = 10.0
"""Longest wait (seconds) between attempts to reopen a lost listening connection."""


class Reconciled(Protocol):
    """What the reconciler drives: the engine's registries and its own report."""

    store: RegistryStore
    """The shared registry."""
    plugins: PluginRegistry
    """The node's plugins."""
    models: ModelRegistry
    """The node's model versions."""
    tokens: TokenBook
    """The node's token book."""

    def report(self, converged: bool) -> NodeReport:
        """What the node's heartbeat says about it now."""

    def model_dropped(self, name: str, version: str) -> None:
        """A version left the registry (statistics and settings of it go too)."""

    async def tokens_revoked(self, token_ids: list[str]) -> None:
        """Tokens revoked (or deleted) elsewhere: end what this node granted to them."""


@dataclass(frozen=True, slots=True)
class DesiredState:
    """One consistent read of the registry's desired state."""

    plugins: dict[str, PluginRecord]
    models: dict[tuple[str, str], ModelRecord]
    tokens: dict[str, TokenRecord]

    @classmethod
    def read(cls, store: RegistryStore, tokens: TokenBook) -> DesiredState:
        """Read it (blocking: run in a thread)."""
        return cls(
            {p.key: p for p in store.plugins()},
            {(m.name, m.version): m for m in store.models()},
            tokens.read(),
        )


class _Superseded(Exception):
    """This node wrote to the registry during the pass: its snapshot is stale."""


class Reconciler:
    """Keeps one node matched to the registry (see the module documentation)."""

    def __init__(
        self,
        node: Reconciled,
        *,
        interval: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node
        self.store = node.store
        self.interval = interval
        self.nodes = NodeBook(self.store)
        self.synced = False
        """A pass has applied the whole desired state since the node started."""
        self.converged = False
        """The latest pass applied the whole desired state."""
        self.listening = False
        """A PostgreSQL connection is listening for changes right now."""
        self.passes = 0
        self._clock = clock
        self._wake = asyncio.Event()
        self._passing = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._applied: int | None = None
        """The store's change marker taken before the latest pass that applied everything
        (None when there is none, or the store cannot tell)."""

    # -- lifetime -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Apply the registry once (so the node starts converged), then keep watching it."""
        await self.reconcile()
        await self.heartbeat()
        self._tasks.append(asyncio.create_task(self._run(), name="mlos-reconcile"))
        if self.store.dialect == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(), name="mlos-listen"))

    async def stop(self, *, forget: bool = True) -> None:
        """Stop watching; with `forget`, delete this node's row (it left the cluster)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if forget:
            try:
                await asyncio.to_thread(self.nodes.remove, self.node.report(False).id)
            except MLOSError as exc:
                log.warning("could not remove this node from the registry: %s", exc.message)

    def wake(self) -> None:
        """Run a pass now (the registry changed)."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.reconcile()
            except MLOSError as exc:
                self.converged = False
                log.warning("reconciling with the registry failed: %s", exc.message)
            except Exception:
                self.converged = False
                log.exception("reconciling with the registry failed")
            await self.heartbeat()

    async def heartbeat(self) -> None:
        """Write this node's report into the registry (a failure is logged, not raised)."""
        report = self.node.report(self.converged)
        try:
            await asyncio.to_thread(self.nodes.beat, report)
        except MLOSError as exc:
            log.warning("heartbeat not written: %s", exc.message)

    # -- one pass -----------------------------------------------------------------------------

    async def catch_up(self) -> None:
        """Apply the registry now, before a change made through this node: a request the load
        balancer sends here right after another node's write (register a plugin there, load
        it here) sees that write. An unreachable registry is left to the change itself.

        When the store tells that nothing but this node's own writes reached the registry since
        the latest complete pass (SQLite's data version), there is nothing to catch up with and
        the read is skipped."""
        try:
            if self._applied is not None and self.store.change_marker() == self._applied:
                return
            await self.reconcile()
        except MLOSError as exc:
            log.warning("catching up with the registry failed: %s", exc.message)

    async def reconcile(self) -> None:
        """Read the desired state and apply it; again when this node wrote meanwhile."""
        async with self._passing:
            await self._reconcile()

    async def _reconcile(self) -> None:
        for _ in range(5):
            try:
                await self._pass()
            except _Superseded:
                continue
            self.passes += 1
            self.converged = True
            self.synced = True
            return
        self.converged = False  # this node keeps writing: the next pass catches up

    async def _pass(self) -> None:
        self._applied = None
        marker = self.store.change_marker()  # before the read: a later foreign write changes it
        writes = self.store.writes
        desired = await asyncio.to_thread(DesiredState.read, self.store, self.node.tokens)

        def check() -> None:
            if self.store.writes != writes:
                raise _Superseded

        check()
        valid = {r.id for r in self.node.tokens.all() if not r.revoked_at}
        self.node.tokens.replace(desired.tokens)
        gone = sorted(
            token_id for token_id in valid
            if token_id not in desired.tokens or desired.tokens[token_id].revoked_at
        )
        if gone:
            await self.node.tokens_revoked(gone)
        plugins = self.node.plugins
        models = self.node.models
        defaults = {name: plugins.find(name) for name in {p.name for p in desired.plugins.values()}}
        for name, plugin in desired.plugins.items():
            known = plugins.entries.get(name)
            if known is None or known.record != plugin:
                log.info("plugin %s: following the registry", name)
                await plugins.follow(plugin)
        # Checked once every plugin follows: a default that moved (two records) moves its
        # models before a pass can be cut short between the two.
        for name, before in defaults.items():
            after = plugins.find(name)
            if before is not None and after is not None and after is not before:
                log.info("plugin %s: default version %s elsewhere, moving models", name,
                         after.record.version)  # fmt: skip
                await models.follow_moved_default(before, after)
        check()
        for key, model in desired.models.items():
            current = models.entries.get(model.name, {}).get(model.version)
            if current is None:
                log.info("model %s/%s: registered elsewhere, loading", *key)
                await models.adopt(model)
            elif current.record != model:
                log.info("model %s/%s: changed elsewhere, following", *key)
                await models.follow(model)
            else:
                continue
            check()
        for version in models.all():
            key = (version.record.name, version.record.version)
            if key not in desired.models:
                log.info("model %s/%s: removed elsewhere, unloading", *key)
                await models.forget(*key)
                self.node.model_dropped(*key)
                check()
        for name in [name for name in plugins.entries if name not in desired.plugins]:
            log.info("plugin %s: removed elsewhere, stopping", name)
            await plugins.forget(name)
            check()
        self._applied = marker

    # -- notifications ------------------------------------------------------------------------

    async def _listen(self) -> None:
        """LISTEN on the registry's channel; wake a pass on each notification, and after each
        (re)connection (notifications sent while it was down are lost)."""
        import psycopg

        conninfo = make_url(self.store.url).set(drivername="postgresql")
        dsn = conninfo.render_as_string(hide_password=False)
        delay = 0.5
        while not self._stopping:
            try:
                async with await psycopg.AsyncConnection.connect(
                    dsn, autocommit=True, connect_timeout=10, application_name="mlos-listen"
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    delay = 0.5
                    self.wake()
                    async for _ in conn.notifies():
                        self.wake()
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.warning("listening for registry changes failed: %s", first)
            finally:
                self.listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LISTEN_RETRY_MAX)
