"""Pack installed distributions, with their dependencies, into wheels for an offline install.

    python tools/wheelhouse.py --outdir /tmp/wheelhouse numpy 'protobuf>=6' setuptools wheel
    python tools/wheelhouse.py --outdir /tmp/wheelhouse --requirements-of mlos-server

A wheel here is rebuilt from what this environment holds: the files an installed distribution
lists in its RECORD (inside site-packages; console scripts are left out, since pip writes them
again from `entry_points.txt`), its metadata, and a new RECORD with their hashes. So a clean
virtual environment can install exactly the versions this one runs, with
`pip install --no-index --find-links DIR`, without reaching a package index. The dependencies
of each requirement are followed (markers evaluated, extras included). `--requirements-of NAME`
adds the dependencies that `packaging/NAME/pyproject.toml` declares, so a test can install the
project's own wheels (built by tools/distributions.py) beside the third-party ones packed here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata as metadata
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
DROPPED_METADATA = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
"""Files of an installed .dist-info that describe the installation, not the distribution."""


class WheelhouseError(Exception):
    """A requirement this environment cannot satisfy, or a distribution that cannot be packed."""


def project_requirements(name: str) -> list[Requirement]:
    """The dependencies `packaging/NAME/pyproject.toml` declares."""
    path = PACKAGING / name / "pyproject.toml"
    if not path.is_file():
        raise WheelhouseError(f"{path} does not exist")
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project.get("dependencies", [])]


def installed(requirement: Requirement) -> metadata.Distribution:
    """The first distribution on the path that satisfies `requirement`."""
    wanted = canonicalize_name(requirement.name)
    found = []
    for dist in metadata.distributions():
        if canonicalize_name(dist.metadata["Name"] or "") == wanted:
            if requirement.specifier.contains(dist.version, prereleases=True):
                return dist
            found.append(dist.version)
    have = f"only {', '.join(found)} is installed" if found else "it is not installed"
    raise WheelhouseError(f"{requirement} is not satisfied here: {have}")


def _applies(marker: Marker | None, extras: Iterable[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in ("", *extras))


def closure(
    requirements: Iterable[Requirement], skip: Iterable[str] = ()
) -> list[metadata.Distribution]:
    """The installed distributions that satisfy `requirements` and everything they depend on,
    leaving out the names in `skip` (and what only they need)."""
    skipped = {canonicalize_name(name) for name in skip}
    chosen: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    pending = [(requirement, frozenset[str]()) for requirement in requirements]
    while pending:
        requirement, outer_extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in skipped or not _applies(requirement.marker, outer_extras):
            continue
        extras = frozenset(requirement.extras)
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        dist = chosen.get(name) or installed(requirement)
        if not requirement.specifier.contains(dist.version, prereleases=True):
            raise WheelhouseError(f"{requirement} conflicts with {name} {dist.version}")
        chosen[name] = dist
        pending += [(Requirement(text), extras) for text in dist.requires or []]
    return [chosen[name] for name in sorted(chosen)]


def _wheel_tags(wheel_file: str) -> str:
    """The compressed tag triple (`cp311-cp311-manylinux_2_17_x86_64`) of a WHEEL file."""
    tags = [line.split(":", 1)[1].strip() for line in wheel_file.splitlines()
            if line.startswith("Tag:")]
    if not tags:
        raise WheelhouseError("its WHEEL file lists no tag")
    parts = [sorted({tag.split("-")[i] for tag in tags}) for i in range(3)]
    return "-".join(".".join(part) for part in parts)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def pack(dist: metadata.Distribution, outdir: Path) -> Path:
    """Write `dist` as a wheel into `outdir` and return its path (reused when it exists)."""
    name = dist.metadata["Name"]
    info = next((f for f in dist.files or []
                 if f.name == "WHEEL" and f.parent.name.endswith(".dist-info")), None)
    if info is None:
        raise WheelhouseError(f"{name} {dist.version} was not installed from a wheel")
    tags = _wheel_tags(info.read_text(encoding="utf-8"))
    filename = f"{canonicalize_name(name).replace('-', '_')}-{dist.version}-{tags}.whl"
    target = outdir / filename
    if target.exists():
        return target
    site = Path(str(dist.locate_file("")))
    info_dir = info.parent.as_posix()
    entries: list[tuple[str, bytes]] = []
    for file in dist.files or []:
        relative = file.as_posix()
        if (relative.startswith("../") or "__pycache__" in file.parts
                or (file.parent.as_posix() == info_dir and file.name in DROPPED_METADATA)):
            continue
        source = site / relative
        if source.is_file():
            entries.append((relative, source.read_bytes()))
    if not (site / info_dir / "METADATA").is_file():
        raise WheelhouseError(f"{name} {dist.version}: {info_dir}/METADATA is missing")
    record = "".join(f"{member},{_record_hash(data)},{len(data)}\n" for member, data in entries)
    record += f"{info_dir}/RECORD,,\n"
    partial = target.with_suffix(".partial")
    # Stored, not deflated: the wheel is unpacked once, on this machine, right after.
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for member, data in entries:
            archive.writestr(member, data)
        archive.writestr(f"{info_dir}/RECORD", record)
    partial.rename(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, then pack the closure of the requirements into --outdir."""
    parser = argparse.ArgumentParser(prog="wheelhouse", description=__doc__.split("\n")[0])
    parser.add_argument("requirements", nargs="*", metavar="REQUIREMENT")
    parser.add_argument("--outdir", type=Path, required=True)
    parser.add_argument("--requirements-of", action="append", default=[], metavar="NAME",
                        help="the dependencies of packaging/NAME (repeatable)")
    args = parser.parse_args(argv)
    try:
        requirements = [Requirement(text) for text in args.requirements]
        for name in args.requirements_of:
            requirements += project_requirements(name)
        own = [path.parent.name for path in PACKAGING.glob("*/pyproject.toml")]
        args.outdir.mkdir(parents=True, exist_ok=True)
        for dist in closure(requirements, skip=own):
            print(pack(dist, args.outdir).name)
    except (WheelhouseError, ValueError) as exc:
        print(f"wheelhouse: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
