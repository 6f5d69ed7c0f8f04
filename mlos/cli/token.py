"""`mlos token create | list | revoke`: the server's API tokens (admin)."""

from __future__ import annotations

import re
import time

from mlos.cli.context import AddAction, CommandGroup, Context, UsageError
from mlos.wire.roles import ROLES
from mlos_generated import smi_pb2

__all__ = ["GROUP", "register"]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str) -> int:
    """`3600`, `90m`, `12h`, `30d` or `2w` as seconds."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise UsageError(f"--ttl {text!r}: give a duration such as 3600, 90m, 12h, 30d or 2w")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _role(role: int) -> str:
    return smi_pb2.Role.Name(smi_pb2.Role.ValueType(role)).removeprefix("ROLE_").lower()


def _when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"


def cmd_create(ctx: Context) -> int:
    """Create a token and print it once."""
    args = ctx.args
    created = ctx.client.create_token(
        args.name,
        args.role,
        models=args.model or (),
        ttl_seconds=duration(args.ttl) if args.ttl else 0,
        rate_limit=args.rate_limit or "",
    )
    ctx.output.message(created)
    info = created.info
    ctx.output.line(created.token)
    if not ctx.output.json:
        print(
            f"token {info.id} ({info.name}, {_role(info.role)}) created; it is shown only "
            "now: store it where its user will read it",
            file=ctx.output.err,
        )
    return 0


def cmd_list(ctx: Context) -> int:
    """Every token, without secrets."""
    tokens = ctx.client.list_tokens()
    ctx.output.message(smi_pb2.ListTokensResponse(tokens=tokens))
    ctx.output.table(
        ["ID", "NAME", "ROLE", "MODELS", "CREATED", "EXPIRES", "REVOKED", "RATE LIMIT"],
        [
            (t.id, t.name, _role(t.role), ", ".join(t.models) or "all", _when(t.created_at),
             _when(t.expires_at), _when(t.revoked_at), t.rate_limit or "role's")
            for t in tokens
        ],
    )
    return 0


def cmd_revoke(ctx: Context) -> int:
    """Revoke a token for good."""
    info = ctx.client.revoke_token(ctx.args.id)
    ctx.output.message(info)
    ctx.output.line(f"revoked token {info.id} ({info.name})")
    return 0


def _add_actions(action: AddAction) -> None:
    create = action("create", "Create a token; it is printed once.", cmd_create)
    create.add_argument("name", metavar="NAME", help="what the token is for (ci, dashboards)")
    create.add_argument("--role", required=True, choices=ROLES, help="what the token may do")
    create.add_argument(
        "--model", action="append", metavar="MODEL",
        help="limit the token to this model (repeatable; default: every model)",
    )
    create.add_argument("--ttl", metavar="DURATION", help="expire after 3600, 90m, 12h, 30d, 2w")
    create.add_argument(
        "--rate-limit", metavar="RATE", help="the token's own limit, 50/s:100 (default: its role's)"
    )
    action("list", "List the tokens (never their secrets).", cmd_list)
    revoke = action("revoke", "Revoke a token for good.", cmd_revoke)
    revoke.add_argument("id", metavar="ID", help="the token's id (from `mlos token list`)")


GROUP = CommandGroup(
    "token", "create, list and revoke API tokens (admin)",
    "Manage the API tokens of a running MLOS server (docs/security.md).", _add_actions,
)
register = GROUP.register
