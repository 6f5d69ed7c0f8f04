"""Where a client finds its token when it is not given one.

In order: the `token` argument; the `MLOS_TOKEN` environment variable; the admin token that a
server's first start writes into its home (`<home>/admin.token`), where the home is the
directory of a `unix://` socket, else `$MLOS_HOME`, else `~/.mlos`. No token is fine for the
IPC socket of one's own server (it maps its owner to admin) and for liveness and readiness.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ADMIN_TOKEN_FILE", "HOME_ENV", "TOKEN_ENV", "find_token"]

TOKEN_ENV = "MLOS_TOKEN"
HOME_ENV = "MLOS_HOME"
ADMIN_TOKEN_FILE = "admin.token"


def find_token(
    token: str | None = None, url: str = "", env: Mapping[str, str] | None = None
) -> str | None:
    """The token a client of `url` sends (None: it sends none)."""
    if token:
        return token
    env = os.environ if env is None else env
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV].strip()
    if url.startswith("unix://"):
        home = Path(url.removeprefix("unix://")).parent
    else:
        home = Path(env.get(HOME_ENV) or "~/.mlos").expanduser()
    try:
        text = (home / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None
