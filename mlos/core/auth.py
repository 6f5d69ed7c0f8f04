"""Who may call what: principals, roles and the authentication interceptor of the pipeline.

Every operation needs an :class:`~mlos.core.operations.Access` level; every role grants the
levels up to its own (viewer: read; inference: also infer; operator: also manage plugins and
models; admin: everything). :class:`Authenticator` runs first in the call pipeline: an open
operation (liveness, readiness) passes; any other needs a principal — the bearer token the call
presents (REST `Authorization`, gRPC `authorization` metadata), the token an IPC connection
presented with `Authenticate`, or, on IPC, the peer's uid mapped to a role — whose role grants
the operation's access and, for a token scoped to models, whose scope holds the call's model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlos.core.operations import Access
from mlos.core.pipeline import Call, Next, Transport
from mlos.core.tokens import TokenBook
from mlos.errors import PermissionDenied, Unauthenticated
from mlos.wire.roles import ROLE_NAMES, role_by_name
from mlos_generated import smi_pb2

__all__ = [
    "CONNECTION_PRINCIPAL",
    "ROLE_ACCESS",
    "ROLE_NAMES",
    "Authenticator",
    "Principal",
    "bearer_token",
    "role_by_name",
]

ROLE_ACCESS: dict[int, Access] = {
    smi_pb2.ROLE_VIEWER: Access.READ,
    smi_pb2.ROLE_INFERENCE: Access.INFER,
    smi_pb2.ROLE_OPERATOR: Access.MANAGE,
    smi_pb2.ROLE_ADMIN: Access.ADMIN,
}
"""The highest access each role grants."""

SERVER = "server"
"""The principal of calls the server makes itself (Transport.INTERNAL)."""


def bearer_token(value: str | None) -> str | None:
    """The token of an `authorization` value, "Bearer <token>" (None for anything else)."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a call runs as: a name ("token:<id>", "uid:<n>"), a role, and a model scope."""

    name: str
    role: int
    models: frozenset[str] = frozenset()

    def may(self, access: Access) -> bool:
        """Whether the role grants `access`."""
        return ROLE_ACCESS.get(self.role, Access.OPEN) >= access

    def may_address(self, model: str) -> bool:
        """Whether the scope holds `model` (an unscoped principal addresses every model)."""
        return not self.models or not model or model in self.models


CONNECTION_PRINCIPAL = "mlos.principal"
"""The key under which an IPC connection keeps the principal its `Authenticate` call set."""


class Authenticator:
    """The pipeline's first stage: establish the caller's principal and check its access."""

    def __init__(self, tokens: TokenBook, uid_roles: Mapping[int, int] | None = None) -> None:
        self.tokens = tokens
        self.uid_roles = dict(uid_roles or {})

    def principal(self, call: Call) -> Principal:
        """The principal of `call`; Unauthenticated when it presents no valid credentials."""
        caller = call.caller
        if caller.token is not None:
            record = self.tokens.verify(caller.token)
            return Principal(f"token:{record.id}", record.role, frozenset(record.models))
        if call.connection is not None:
            bound = call.connection.state.get(CONNECTION_PRINCIPAL)
            if isinstance(bound, Principal):
                self._check_still_valid(bound)
                return bound
        if caller.transport is Transport.IPC and caller.uid is not None:
            role = self.uid_roles.get(caller.uid)
            if role is not None:
                return Principal(f"uid:{caller.uid}", role)
        raise Unauthenticated(
            "this operation needs a token: send `Authorization: Bearer <token>` (REST), "
            "`authorization` metadata (gRPC) or call Authenticate (IPC)"
        )

    def _check_still_valid(self, principal: Principal) -> None:
        if principal.name.startswith("token:"):
            self.tokens.check(principal.name.removeprefix("token:"))

    async def __call__(self, call: Call, request: Any, proceed: Next) -> Any:
        """Pass open operations and internal calls; check every other call's principal."""
        access = call.operation.access
        if access is Access.OPEN or call.caller.transport is Transport.INTERNAL:
            return await proceed(call, request)
        principal = self.principal(call)
        call.caller.principal = principal.name
        call.caller.role = principal.role
        if not principal.may(access):
            raise PermissionDenied(
                f"{principal.name} ({ROLE_NAMES.get(principal.role, 'no role')}) may not "
                f"call {call.operation.name}"
            )
        if not principal.may_address(call.model):
            raise PermissionDenied(f"{principal.name} may not address model {call.model!r}")
        return await proceed(call, request)
