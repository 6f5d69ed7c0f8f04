"""`mlos plugin new NAME`: write a plugin package skeleton (the library is mlos.sdk.scaffold)."""

from __future__ import annotations

from pathlib import Path

from mlos.cli.context import AddAction, Context, UsageError
from mlos.errors import MLOSError
from mlos.sdk import scaffold

__all__ = ["register"]


def cmd_new(ctx: Context) -> int:
    """Write the skeleton of the plugin NAME into DIR (default: ./NAME)."""
    try:
        skeleton = scaffold.plan(ctx.args.name)
        directory = Path(ctx.args.directory or ctx.args.name)
        written = scaffold.write(skeleton, directory)
    except MLOSError as exc:
        raise UsageError(exc.message) from None
    ctx.output.document({
        "name": skeleton.name, "distribution": skeleton.distribution,
        "package": skeleton.package, "directory": str(directory),
        "files": [str(path) for path in written],
    })
    ctx.output.line(f"wrote {skeleton.distribution} ({len(written)} files) in {directory}/; next:")
    ctx.output.line(f"  pip install -e '{directory}[test]'")
    ctx.output.line(f"  mlos conformance --entry-point {skeleton.name} "
                    f"--fixtures {directory / 'fixtures'}")
    return 0


def register(action: AddAction) -> None:
    """Add `mlos plugin new` to the `mlos plugin` group."""
    parser = action("new", "Write a new plugin package that passes the conformance kit.", cmd_new)
    parser.add_argument("name", metavar="NAME", help="plugin name (its entry point), e.g. demo")
    parser.add_argument("directory", metavar="DIR", nargs="?", help="where (default: ./NAME)")
