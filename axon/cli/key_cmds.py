"""``axon key generate | list | trust | untrust``: signing keys and trusted keys."""

from __future__ import annotations

import argparse
from typing import Any

from axon.cli.context import Context
from axon.keyring import KeyInfo, Keyring

__all__ = ["register"]


def _show(ctx: Context, info: KeyInfo, verb: str) -> int:
    ctx.output.data(info.to_dict())
    ctx.output.line(f"{verb} key {info.name} ({info.key.key_id})")
    return 0


def cmd_generate(ctx: Context) -> int:
    """Make a signing key; print the public key to hand to others."""
    keyring = Keyring(ctx.config.home)
    info = keyring.generate(ctx.args.name)
    _show(ctx, info, "generated")
    ctx.output.line(f"public key (give it to whoever installs your packages; they run "
                    f"`axon key trust`), also in {keyring.dir / (info.name + '.pub')}:")
    ctx.output.line(f"  {info.key.line(info.name)}")
    return 0


def cmd_list(ctx: Context) -> int:
    """Own keys and trusted keys."""
    keys = Keyring(ctx.config.home).list()
    ctx.output.data([k.to_dict() for k in keys])
    ctx.output.table(["NAME", "KEY ID", "PRIVATE", "TRUSTED", "PUBLIC KEY"],
                     [(k.name, k.key.key_id, "yes" if k.private else "no",
                       "yes" if k.trusted else "no", k.key.line()) for k in keys])
    if not keys:
        ctx.output.line("no keys (make one with `axon key generate NAME`)")
    return 0


def cmd_trust(ctx: Context) -> int:
    """Trust a public key: its text (``axon-ed25519 ...``) or a ``.pub`` file."""
    return _show(ctx, Keyring(ctx.config.home).trust(ctx.args.key, ctx.args.name), "trusted")


def cmd_untrust(ctx: Context) -> int:
    """Stop trusting a key."""
    return _show(ctx, Keyring(ctx.config.home).untrust(ctx.args.key), "no longer trusting")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands to the top-level subparsers."""
    key = sub.add_parser("key", help="signing keys and the keys you trust")
    ksub = key.add_subparsers(dest="key_command", metavar="COMMAND", required=True)
    p = ksub.add_parser("generate", parents=[common], help="make an ed25519 signing key")
    p.add_argument("name", help="key name, e.g. your team")
    p.set_defaults(func=cmd_generate)
    p = ksub.add_parser("list", parents=[common], help="own keys and trusted keys")
    p.set_defaults(func=cmd_list)
    p = ksub.add_parser("trust", parents=[common],
                        help="accept signatures by a public key")
    p.add_argument("key", help="'axon-ed25519 BASE64 [name]' or a .pub file")
    p.add_argument("--name", help="name to list it under")
    p.set_defaults(func=cmd_trust)
    p = ksub.add_parser("untrust", parents=[common], help="stop accepting a key")
    p.add_argument("key", help="key name or id")
    p.set_defaults(func=cmd_untrust)
