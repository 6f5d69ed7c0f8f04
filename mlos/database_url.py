"""Registry database URLs: which ones MLOS accepts, their normal form, and how to print them.

Two kinds are accepted::

    sqlite:///relative/registry.db     sqlite:////absolute/registry.db
    postgresql://user:password@host:5432/dbname     (also postgres://, postgresql+psycopg://)

PostgreSQL URLs are driven by psycopg 3 (`postgresql+psycopg://`); libpq's own defaults fill in
what the URL leaves out (`PGPASSWORD`, `~/.pgpass`, `PGSSLMODE`, a Unix socket as
`postgresql:///dbname?host=/run/postgresql`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_FILE", "anchor", "normalize", "redact", "sqlite_file"]

DEFAULT_FILE = "registry.db"
"""The embedded registry's file name in the MLOS home."""

_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


def normalize(url: str) -> str:
    """The URL in the form SQLAlchemy opens (`sqlite:///…` or `postgresql+psycopg://…`).

    Raises ValueError, with a message fit for one line, for anything else.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "postgres":  # the short form libpq and many hosting services use
        text = "postgresql" + text[len("postgres"):]
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(
            f"{_shown(url)!r} is not a database URL "
            "(use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME)"
        ) from None
    driver = parsed.drivername.lower()
    if driver in _SQLITE_DRIVERS:
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError(
                f"{_shown(url)!r} is an in-memory SQLite database, which forgets every "
                "registration on restart; give a file: sqlite:///PATH"
            )
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if driver in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(
        f"{_shown(url)!r}: unsupported database {parsed.drivername!r} "
        "(MLOS keeps its registry in sqlite:///PATH or postgresql://…)"
    )


def anchor(url: str, base: Path) -> str:
    """`url` with a relative SQLite file taken from `base` and `~` expanded (others unchanged)."""
    from sqlalchemy.engine import make_url

    path = sqlite_file(url)
    if path is None:
        return url
    path = path.expanduser()
    if not path.is_absolute():
        path = base / path
    return make_url(url).set(database=str(path)).render_as_string(hide_password=False)


def redact(url: str) -> str:
    """The URL with its password replaced by `***`, for logs and error messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _shown(url)


def sqlite_file(url: str) -> Path | None:
    """The file of a `sqlite:///` URL (None for other databases)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def _shown(url: str) -> str:
    """`url` with anything between `://user:` and `@` masked, even when it does not parse."""
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{head}://{user}:***@{host}" if ":" in credentials else url
