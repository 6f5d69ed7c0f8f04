"""protoc plugin: IPC stubs for the services of a .proto file.

For every file that defines services it writes `<file>_ipc.py` beside the `_pb2` module: a
method table (stable numeric ids, request and response types) and, per service, a typed client
over `mlos.wire.Channel` and an abstract servicer that `mlos.wire.ServerConnection` dispatches
to. The SMI version declared by the file option `(mlos.smi.v1.smi_version)` becomes `SMI_VERSION`.

Method ids are `service_number << 8 | method_number`, both counted from 1 in declaration order,
so services and methods must only ever be appended.
"""

from __future__ import annotations

import re
import sys

from google.protobuf import unknown_fields
from google.protobuf.compiler import plugin_pb2
from google.protobuf.descriptor_pb2 import FileDescriptorProto, ServiceDescriptorProto

SMI_VERSION_OPTION = 51001


def snake_case(name: str) -> str:
    """`LoadModel` → `load_model`, `MLOS` → `mlos`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def smi_version(proto: FileDescriptorProto) -> str | None:
    """The file's `(smi_version)` option, read from the options' unknown fields."""
    fields = unknown_fields.UnknownFieldSet(proto.options)
    for index in range(len(fields)):
        field = fields[index]
        if field.field_number == SMI_VERSION_OPTION:
            data = field.data
            return data.decode() if isinstance(data, bytes) else str(data)
    return None


def python_type(type_name: str, proto: FileDescriptorProto, module_alias: str) -> str:
    """`.mlos.smi.v1.InferRequest` → `smi_pb2.InferRequest` (same-file types only)."""
    prefix = f".{proto.package}." if proto.package else "."
    if not type_name.startswith(prefix):
        raise SystemExit(f"protoc-gen-mlos-ipc: {type_name} is not defined in {proto.name}")
    return f"{module_alias}.{type_name[len(prefix) :]}"


def render(proto: FileDescriptorProto) -> str:
    """The `_ipc.py` module for one file."""
    base = proto.name.rsplit("/", 1)[-1].removesuffix(".proto")
    package_path = proto.name.rsplit("/", 1)[0].replace("/", ".") if "/" in proto.name else ""
    alias = f"{base}_pb2"
    import_line = f"from {package_path} import {alias}" if package_path else f"import {alias}"
    lines = [
        f"# DO NOT EDIT — generated from spec/{base}.proto by tools/protoc_gen_mlos_ipc.py;",
        "# run `make generate`.",
        f'"""IPC method table, clients and servicers for {proto.package}."""',
        "",
        "from __future__ import annotations",
        "",
        "import abc",
        "from typing import Generic, TypeVar",
        "",
        "from mlos.wire.channel import Channel",
        "from mlos.wire.method import Method",
        import_line,
        "",
        'ContextT = TypeVar("ContextT")',
        '"""What a servicer\'s methods receive about each call: `mlos.wire.CallContext` where',
        "`mlos.wire.ServerConnection` dispatches to it, the server's own call type for its MLOS",
        'service."""',
        "",
    ]
    version = smi_version(proto)
    if version is not None:
        major, minor = (int(part) for part in version.split("."))
        lines += [
            f"SMI_VERSION = {alias}.SmiVersion(major={major}, minor={minor})",
            '"""The SMI version this module was generated for."""',
            "",
        ]
    table: list[str] = []
    for service_number, service in enumerate(proto.service, start=1):
        lines += render_methods(proto, service, service_number, alias, table)
    lines += ["", "METHODS: dict[int, Method[object, object]] = {"]
    # A Method of specific messages is not a Method[object, object] to mypy (Method is
    # invariant); the table holds them all alike.
    lines += [f"    {name}.id: {name},  # type: ignore[dict-item]" for name in table]
    lines += ["}", '"""Every method of this file by id."""', ""]
    for service in proto.service:
        lines += render_client(proto, service, alias)
        lines += render_servicer(proto, service, alias)
    return "\n".join(lines).rstrip() + "\n"


def constant(service: ServiceDescriptorProto, method_name: str) -> str:
    """Name of the module constant for a method: `PLUGIN_LOAD_MODEL`."""
    return f"{snake_case(service.name).upper()}_{snake_case(method_name).upper()}"


def render_methods(
    proto: FileDescriptorProto,
    service: ServiceDescriptorProto,
    service_number: int,
    alias: str,
    table: list[str],
) -> list[str]:
    """Method constants of one service."""
    lines = []
    for method_number, method in enumerate(service.method, start=1):
        name = constant(service, method.name)
        table.append(name)
        request = python_type(method.input_type, proto, alias)
        response = python_type(method.output_type, proto, alias)
        method_id = service_number << 8 | method_number
        lines += [
            f"{name}: Method[{request}, {response}] = Method(",
            f"    id=0x{method_id:04X},",
            f'    service="{proto.package}.{service.name}",',
            f'    name="{method.name}",',
            f'    handler="{snake_case(method.name)}",',
            f"    request_type={request},",
            f"    response_type={response},",
            ")",
            "",
        ]
    return lines


def render_client(
    proto: FileDescriptorProto, service: ServiceDescriptorProto, alias: str
) -> list[str]:
    """Typed client class of one service."""
    lines = [
        "",
        f"class {service.name}Client:",
        f'    """Calls the {service.name} service over an IPC channel."""',
        "",
        "    def __init__(self, channel: Channel) -> None:",
        "        self.channel = channel",
    ]
    for method in service.method:
        request = python_type(method.input_type, proto, alias)
        response = python_type(method.output_type, proto, alias)
        lines += [
            "",
            f"    async def {snake_case(method.name)}(",
            f"        self, request: {request}, *, timeout: float | None = None",
            f"    ) -> {response}:",
            f'        """Call {service.name}.{method.name}."""',
            f"        return await self.channel.call({constant(service, method.name)}, request, "
            "timeout=timeout)",
        ]
    return [*lines, ""]


def render_servicer(
    proto: FileDescriptorProto, service: ServiceDescriptorProto, alias: str
) -> list[str]:
    """Abstract servicer class of one service."""
    methods = "".join(f"\n        {constant(service, m.name)}," for m in service.method)
    lines = [
        "",
        f"class {service.name}Servicer(abc.ABC, Generic[ContextT]):",
        f'    """Implements {service.name}; `mlos.wire.ServerConnection` dispatches to it."""',
        "",
        f"    METHODS = ({methods}\n    )",
    ]
    for method in service.method:
        request = python_type(method.input_type, proto, alias)
        response = python_type(method.output_type, proto, alias)
        lines += [
            "",
            "    @abc.abstractmethod",
            f"    async def {snake_case(method.name)}(",
            f"        self, request: {request}, context: ContextT",
            f"    ) -> {response}:",
            f'        """Handle {service.name}.{method.name}."""',
        ]
    return [*lines, ""]


def main() -> None:
    """Read a CodeGeneratorRequest on stdin, write a CodeGeneratorResponse on stdout."""
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    wanted = set(request.file_to_generate)
    for proto in request.proto_file:
        if proto.name not in wanted or not proto.service:
            continue
        out = response.file.add()
        out.name = proto.name.removesuffix(".proto") + "_ipc.py"
        out.content = render(proto)
    sys.stdout.buffer.write(response.SerializeToString())


if __name__ == "__main__":
    main()
