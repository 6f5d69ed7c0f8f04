"""Build the distributions of MLOS (wheels and sdists) from this one source tree.

    python tools/distributions.py                 # build every distribution into ./dist
    python tools/distributions.py --list          # the distributions and the files each owns
    python tools/distributions.py mlos-plugin-sdk --no-isolation --outdir /tmp/wheels --wheel

Each distribution is described by `packaging/<name>/pyproject.toml`. Its table
`[tool.mlos-dist.files]` maps a path inside the distribution to a file or directory of this
repository; `exclude-owned-by` leaves out what another distribution ships (the server leaves out
the SDK's files and depends on it). The files are staged under `build/dist-src/<name>/` beside
the pyproject.toml and README.md, so each sdist is self-contained and its wheel builds from it.
The numpy example plugin has its own project directory and is built from there as it is.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
STAGING = ROOT / "build" / "dist-src"
EXAMPLES = (ROOT / "plugins" / "examples" / "mlos-plugin-numpy",)
"""Plugins with a project directory of their own, built as they are."""

@dataclass(frozen=True)
class Distribution:
    """One distribution: its name, its packaging directory and the files it owns."""

    name: str
    directory: Path
    files: dict[str, Path]
    """Path inside the distribution -> file of this repository (directories expanded)."""


def _expand(destination: str, source: Path) -> dict[str, Path]:
    if source.is_file():
        return {destination: source}
    if not source.is_dir():
        raise SystemExit(f"distributions: {source} does not exist")
    files: dict[str, Path] = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or path.suffix == ".pyc" or any(
            part == "__pycache__" or part.endswith(".egg-info") for part in relative.parts
        ):
            continue
        files[f"{destination}/{relative.as_posix()}"] = path
    return files


def load() -> dict[str, Distribution]:
    """Every distribution under packaging/, by name, with the files it owns."""
    tables: dict[str, tuple[Path, dict[str, object]]] = {}
    for project in sorted(PACKAGING.glob("*/pyproject.toml")):
        document = tomllib.loads(project.read_text(encoding="utf-8"))
        name = document["project"]["name"]
        tables[name] = (project.parent, document.get("tool", {}).get("mlos-dist", {}))
    owned: dict[str, dict[str, Path]] = {}
    for name, (_, table) in tables.items():
        files: dict[str, Path] = {}
        for destination, source in dict(table.get("files", {})).items():  # type: ignore[call-overload]
            files |= _expand(str(destination), ROOT / str(source))
        owned[name] = files
    result: dict[str, Distribution] = {}
    for name, (directory, table) in tables.items():
        files = dict(owned[name])
        for other in table.get("exclude-owned-by", []):  # type: ignore[attr-defined]
            for destination in owned[str(other)]:
                files.pop(destination, None)
        result[name] = Distribution(name, directory, files)
    return result


def stage(distribution: Distribution, target: Path | None = None) -> Path:
    """Copy a distribution's pyproject.toml, README and files into a fresh staging directory
    (`build/dist-src/NAME` unless `target` is given) and return it."""
    target = target or STAGING / distribution.name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for item in distribution.directory.iterdir():
        shutil.copy2(item, target / item.name)
    for destination, source in distribution.files.items():
        (target / destination).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / destination)
    return target


def build(directory: Path, outdir: Path, *, isolation: bool, wheel_only: bool) -> None:
    """Build an sdist and a wheel (or only a wheel) of the project in `directory`."""
    command = [sys.executable, "-m", "build", "--outdir", str(outdir)]
    if wheel_only:
        command.append("--wheel")
    if not isolation:
        command.append("--no-isolation")
    subprocess.run([*command, str(directory)], check=True, stdout=subprocess.DEVNULL)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, then stage and build the distributions asked for."""
    parser = argparse.ArgumentParser(prog="distributions", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="distributions (default: all)")
    parser.add_argument("--outdir", type=Path, default=ROOT / "dist")
    parser.add_argument("--wheel", action="store_true", help="build wheels only, no sdists")
    parser.add_argument("--no-isolation", action="store_true",
                        help="build with this environment's setuptools (offline)")
    parser.add_argument("--list", action="store_true", help="list the files of each and exit")
    args = parser.parse_args(argv)
    distributions = load()
    examples = {d.name: d for d in EXAMPLES}
    unknown = set(args.names) - set(distributions) - set(examples)
    if unknown:
        parser.error(f"unknown distribution(s): {', '.join(sorted(unknown))}; "
                     f"known: {', '.join(sorted([*distributions, *examples]))}")
    names = args.names or [*distributions, *examples]
    if args.list:
        for name in names:
            files = distributions[name].files if name in distributions else {}
            print(f"{name}: {len(files) or 'its own project'} files")
        return 0
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name in names:
        directory = stage(distributions[name]) if name in distributions else examples[name]
        print(f"building {name}", flush=True)
        build(directory, args.outdir, isolation=not args.no_isolation, wheel_only=args.wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
