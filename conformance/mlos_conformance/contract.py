"""The static half of the SMI contract: what a Describe answer, model metadata and an inference
response must look like. Each function returns the problems it finds, as short sentences; an
empty list means the message conforms."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mlos.core.supervisor import check_smi_version
from mlos.errors import IncompatibleVersion, InvalidArgument
from mlos.wire.tensors import DATATYPES, byte_size, decode_bytes, element_count
from mlos_generated import smi_ipc, smi_pb2

__all__ = [
    "VALID_DATATYPES",
    "capability_problems",
    "core_version",
    "identity_problems",
    "metadata_problems",
    "output_problems",
    "version_problems",
]

#: The Open Inference Protocol datatype names.
VALID_DATATYPES = frozenset(DATATYPES)


def identity_problems(info: smi_pb2.PluginInfo) -> list[str]:
    """Describe must name the plugin and its version."""
    problems = []
    if not info.name.strip():
        problems.append("Describe gives no plugin name")
    if not info.version.strip():
        problems.append("Describe gives no plugin version")
    return problems


def version_problems(info: smi_pb2.PluginInfo) -> list[str]:
    """The plugin must speak the core's SMI major version at the core's minor or later."""
    try:
        check_smi_version(info)
    except IncompatibleVersion as exc:
        return [f"incompatible: {exc.message}"]
    return []


def core_version() -> str:
    """The SMI version this core speaks, as "MAJOR.MINOR"."""
    version = smi_ipc.SMI_VERSION
    return f"{version.major}.{version.minor}"


def _invalid_datatypes(datatypes: Iterable[str]) -> list[str]:
    return sorted({d for d in datatypes if d not in VALID_DATATYPES})


def capability_problems(capabilities: smi_pb2.PluginCapabilities) -> list[str]:
    """Formats named, datatypes valid, batch size and concurrency in range."""
    problems = []
    if not capabilities.formats or not all(f.strip() for f in capabilities.formats):
        problems.append("no model format named (capabilities.formats)")
    if not capabilities.datatypes:
        problems.append("no datatype named (capabilities.datatypes)")
    invalid = _invalid_datatypes(capabilities.datatypes)
    if invalid:
        problems.append(f"datatypes that are not Open Inference Protocol names: {invalid}")
    bad_extensions = [e for e in capabilities.file_extensions if not e.startswith(".")]
    if bad_extensions:
        problems.append(f"file extensions must start with '.': {bad_extensions}")
    if capabilities.max_concurrency < 1:
        problems.append(f"max_concurrency is {capabilities.max_concurrency}, needs >= 1")
    if capabilities.max_batch_size < 0:
        problems.append(f"max_batch_size is {capabilities.max_batch_size}, needs >= 0")
    return problems


def _tensor_problems(role: str, specs: Sequence[smi_pb2.TensorMetadata]) -> list[str]:
    problems = []
    seen: set[str] = set()
    for spec in specs:
        label = f"{role} {spec.name!r}"
        if not spec.name:
            problems.append(f"an {role} has no name")
        elif spec.name in seen:
            problems.append(f"{label} is declared twice")
        seen.add(spec.name)
        if spec.datatype not in VALID_DATATYPES:
            problems.append(f"{label} has datatype {spec.datatype!r}, not an OIP name")
        if any(dim < -1 for dim in spec.shape):
            problems.append(f"{label} has shape {list(spec.shape)}; dimensions must be >= -1")
    return problems


def metadata_problems(metadata: smi_pb2.ModelMetadata, name: str) -> list[str]:
    """Inputs and outputs named, typed and shaped; batching consistent with the shapes."""
    problems = []
    if metadata.name and metadata.name != name:
        problems.append(f"metadata names the model {metadata.name!r}, it was loaded as {name!r}")
    if not metadata.outputs:
        problems.append("metadata declares no output")
    problems += _tensor_problems("input", metadata.inputs)
    problems += _tensor_problems("output", metadata.outputs)
    if metadata.max_batch_size < 0:
        problems.append(f"max_batch_size is {metadata.max_batch_size}, needs >= 0")
    elif metadata.max_batch_size > 0:
        fixed = [s.name for s in metadata.inputs if list(s.shape[:1]) != [-1]]
        if fixed:
            problems.append(
                f"max_batch_size is {metadata.max_batch_size} but input(s) {fixed} do not "
                "lead with a dynamic dimension"
            )
    return problems


def _contents_problem(tensor: smi_pb2.Tensor) -> str | None:
    if tensor.HasField("shared_memory"):
        return f"output {tensor.name!r} is in shared memory though none was requested"
    shape = list(tensor.shape)
    if any(dim < 0 for dim in shape):
        return f"output {tensor.name!r} has shape {shape} with a negative dimension"
    needed = byte_size(tensor.datatype, shape)
    if needed is None:
        try:
            decode_bytes(tensor.contents, element_count(shape))
        except InvalidArgument as exc:
            return f"output {tensor.name!r}: {exc.message}"
    elif len(tensor.contents) != needed:
        return (
            f"output {tensor.name!r} holds {len(tensor.contents)} bytes, shape {shape} of "
            f"{tensor.datatype} needs {needed}"
        )
    return None


def output_problems(
    request: smi_pb2.InferRequest,
    response: smi_pb2.InferResponse,
    metadata: smi_pb2.ModelMetadata,
    batch: int | None = None,
) -> list[str]:
    """Every declared output present once, with its declared datatype and rank, its fixed
    dimensions, `batch` along a dynamic first dimension, and contents that fill its shape."""
    problems = []
    if response.model_name != request.model_name:
        problems.append(f"response names model {response.model_name!r}")
    if request.id and response.id != request.id:
        problems.append(f"response id {response.id!r} does not echo request id {request.id!r}")
    declared = {spec.name: spec for spec in metadata.outputs}
    wanted = [o.name for o in request.outputs] or list(declared)
    got: dict[str, smi_pb2.Tensor] = {}
    for returned in response.outputs:
        if returned.name in got:
            problems.append(f"output {returned.name!r} is returned twice")
        got[returned.name] = returned
    extra = sorted(set(got) - set(wanted))
    if extra:
        problems.append(f"outputs not asked for: {extra}")
    missing = [name for name in wanted if name not in got]
    if missing:
        problems.append(f"outputs missing: {missing}")
    for name in wanted:
        tensor, spec = got.get(name), declared.get(name)
        if tensor is None or spec is None:
            continue
        if tensor.datatype != spec.datatype:
            problems.append(f"output {name!r} is {tensor.datatype}, declared {spec.datatype}")
            continue
        shape, declared_shape = list(tensor.shape), list(spec.shape)
        if len(shape) != len(declared_shape):
            problems.append(f"output {name!r} has shape {shape}, declared {declared_shape}")
            continue
        for axis, (dim, want) in enumerate(zip(shape, declared_shape, strict=True)):
            if want >= 0 and dim != want:
                problems.append(f"output {name!r} has shape {shape}, declared {declared_shape}")
                break
            if axis == 0 and want == -1 and batch is not None and dim != batch:
                problems.append(f"output {name!r} has batch {dim}, the request had {batch}")
                break
        problem = _contents_problem(tensor)
        if problem is not None:
            problems.append(problem)
    return problems
