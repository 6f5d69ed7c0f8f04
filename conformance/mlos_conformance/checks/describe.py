"""Describe: who the plugin is, which SMI versions it speaks, what it can do."""

from __future__ import annotations

from mlos_conformance.check import Check, Skipped, fail_on
from mlos_conformance.contract import (
    capability_problems,
    core_version,
    identity_problems,
    version_problems,
)
from mlos_conformance.session import Session
from mlos_generated import smi_pb2

__all__ = ["CHECKS"]


def _info(session: Session) -> smi_pb2.PluginInfo:
    if session.info is None:
        raise Skipped("the plugin did not answer Describe")
    return session.info


def _versions(info: smi_pb2.PluginInfo) -> str:
    return ", ".join(f"{v.major}.{v.minor}" for v in info.smi_versions) or "none"


async def identity(session: Session) -> str:
    info = _info(session)
    problems = identity_problems(info)
    fail_on(problems)
    return f"{info.name} {info.version}"


async def smi_version(session: Session) -> str:
    info = _info(session)
    problems = version_problems(info)
    fail_on(problems)
    return f"speaks SMI {_versions(info)}; this core needs {core_version()}"


async def capabilities(session: Session) -> str:
    caps = _info(session).capabilities
    problems = capability_problems(caps)
    fail_on(problems)
    return (
        f"formats {', '.join(caps.formats)}; {len(caps.datatypes)} datatypes; "
        f"max_concurrency {caps.max_concurrency}; max_batch_size {caps.max_batch_size}"
    )


CHECKS = (
    Check("describe.identity", "Describe names the plugin and its version.", identity),
    Check(
        "describe.smi_version",
        "The plugin speaks the core's SMI major version, at the core's minor version or later.",
        smi_version,
    ),
    Check(
        "describe.capabilities",
        "Capabilities name at least one format, only Open Inference Protocol datatypes, "
        "max_concurrency >= 1 and max_batch_size >= 0.",
        capabilities,
    ),
)
