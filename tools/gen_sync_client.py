"""Generate the blocking client API (mlos/client/sync.py) from the asyncio one (aio.py).

    python tools/gen_sync_client.py          # write mlos/client/sync.py
    python tools/gen_sync_client.py --check  # fail when it differs from what aio.py gives

The two APIs are the same methods over the same operations; the blocking one differs only in
not awaiting. Writing it once (as `unasync` does for httpcore) keeps the two from drifting:
`tools/generate.py` runs this beside the spec generators, and its `--check` covers it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "mlos" / "client" / "aio.py"
TARGET = ROOT / "mlos" / "client" / "sync.py"

HEADER = "# DO NOT EDIT — generated from mlos/client/aio.py by tools/gen_sync_client.py.\n"

DOCSTRING = '''"""The blocking client API: :class:`Client`, the base of every blocking transport.

Each method is written once, over two things a transport supplies: `_ops`, the operations of
its wire (:class:`~mlos.client.rest.RestOperations` or :class:`~mlos.client.smi.
SmiOperations`), and `_run`, which sends one :class:`~mlos.client.base.Op` and returns what its
`parse` reads from the answer. This module is generated from :mod:`mlos.client.aio`, the same
API awaited: edit that one.
"""'''

REWRITES: tuple[tuple[str, str], ...] = (
    (r"await the answer", "wait for the answer"),
    (r"\basync def ", "def "),
    (r"\basync with ", "with "),
    (r"\bawait ", ""),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"\bconnect_async\b", "connect"),
    (r"\bAsync(?=\w*Client\b)", ""),
)
"""Regular expressions and replacements, applied in order to everything after the docstring."""


def render(source: str) -> str:
    """The blocking module for the asyncio module's text `source`."""
    match = re.match(r'"""(?:.|\n)*?"""', source)
    if match is None:
        raise SystemExit(f"{SOURCE.relative_to(ROOT)} must start with its module docstring")
    body = source[match.end() :]
    for pattern, replacement in REWRITES:
        body = re.sub(pattern, replacement, body)
    return HEADER + DOCSTRING + body


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if sync.py is stale")
    args = parser.parse_args()
    fresh = render(SOURCE.read_text())
    if args.check:
        if TARGET.read_text() != fresh:
            print(f"{TARGET.relative_to(ROOT)} is stale: run `make generate`.")
            return 1
        print(f"{TARGET.relative_to(ROOT)} matches aio.py.")
        return 0
    TARGET.write_text(fresh)
    print(f"regenerated {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
