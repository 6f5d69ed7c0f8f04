"""What every `mlos` command receives: its arguments, where to print, and the server client."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from mlos.cli.output import Output
from mlos.client import DEFAULT_TIMEOUT, DEFAULT_URL, Client, connect
from mlos.client.credentials import TOKEN_ENV
from mlos.errors import InvalidArgument

__all__ = [
    "URL_ENV",
    "AddAction",
    "CommandGroup",
    "Commands",
    "Context",
    "Handler",
    "UsageError",
    "add_remote_options",
    "command_group",
]

URL_ENV = "MLOS_URL"
"""The environment variable with the server address the management commands use."""


Handler = Callable[["Context"], int]
"""What runs one command: it gets the invocation's `Context` and returns the exit status."""

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The subcommands of the `mlos` parser, where each command module adds its own."""

AddAction = Callable[[str, str, Handler], argparse.ArgumentParser]
"""Adds one ACTION to a command group (name, help, handler) and returns its parser."""


class UsageError(InvalidArgument):
    """A mistake on the command line that the parser could not catch (exit status 2)."""


def add_remote_options(parser: argparse.ArgumentParser) -> None:
    """`--url`, `--timeout` and `--json`, shared by every command that talks to a server."""
    parser.add_argument(
        "--url",
        help="server address: http://HOST:PORT (REST), grpc://HOST:PORT or unix:///PATH "
        f"(the IPC socket) (default: ${URL_ENV} or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the server (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--token",
        help="API token (default: $MLOS_TOKEN, else the admin token in the server's home: "
        "$MLOS_HOME/admin.token or ~/.mlos/admin.token)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def command_group(
    commands: Commands, name: str, help_text: str, description: str
) -> AddAction:
    """Add `mlos NAME ACTION ...` to `commands`; return the function that adds one ACTION.

    Each action gets the remote options and its handler; the function returns the action's
    parser, for its own arguments.
    """
    group = commands.add_parser(name, help=help_text, description=description)
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(action_name: str, action_help: str, handler: Handler) -> argparse.ArgumentParser:
        parser = actions.add_parser(action_name, help=action_help, description=action_help)
        add_remote_options(parser)
        parser.set_defaults(func=handler)
        return parser

    return action


@dataclass(frozen=True)
class CommandGroup:
    """`mlos NAME ACTION ...`: a command of several actions, each with the remote options."""

    name: str
    help: str
    """One line for `mlos --help`."""
    description: str
    """The paragraph atop `mlos NAME --help`."""
    actions: Callable[[AddAction], None]
    """Adds the group's actions, with their own arguments."""

    def register(self, commands: Commands) -> None:
        """Add the group and its actions to the `mlos` command parser."""
        self.actions(command_group(commands, self.name, self.help, self.description))


@dataclass
class Context:
    """Per-invocation state. The client is created on first use."""

    args: argparse.Namespace
    output: Output
    env: Mapping[str, str]
    connector: Callable[..., Client] = field(default=connect)

    @property
    def url(self) -> str:
        """`--url`, else `$MLOS_URL`, else the default address."""
        return str(getattr(self.args, "url", None) or self.env.get(URL_ENV) or DEFAULT_URL)

    @functools.cached_property
    def client(self) -> Client:
        """A client of the server at :attr:`url`, over the protocol its scheme names."""
        timeout = getattr(self.args, "timeout", DEFAULT_TIMEOUT)
        if timeout is not None and timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds")
        token = getattr(self.args, "token", None) or self.env.get(TOKEN_ENV) or None
        return self.connector(self.url, timeout=timeout, token=token)
