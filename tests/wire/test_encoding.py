"""The descriptor-driven JSON rendering of SMI messages."""

from __future__ import annotations

import pytest

from mlos.errors import InvalidArgument
from mlos.wire import encoding
from mlos_generated import smi_pb2


def _plugin() -> smi_pb2.PluginStatus:
    status = smi_pb2.PluginStatus(
        name="onnx",
        version="1.2.0",
        state=smi_pb2.PLUGIN_STATE_READY,
        source=smi_pb2.PluginSource(entry_point="onnx"),
        pid=42,
        restarts=1,
        models=["m/1"],
    )
    status.info.smi_versions.add(major=1, minor=0)
    status.info.capabilities.formats.append("onnx")
    return status


def test_every_field_is_present_with_defaults() -> None:
    rendered = encoding.to_json(smi_pb2.ModelStatus(name="m"))
    fields = smi_pb2.ModelStatus.DESCRIPTOR.fields
    # Every field but a oneof's members, which appear only when set (`dynamic_batching`).
    assert set(rendered) == {f.name for f in fields if f.containing_oneof is None}
    assert "dynamic_batching" not in rendered
    assert rendered["version"] == ""
    assert rendered["state"] == "unspecified"
    assert rendered["config"] == {}
    assert rendered["metadata"]["inputs"] == []
    assert rendered["metadata"]["max_batch_size"] == 0


def test_enums_are_short_lowercase_names() -> None:
    assert encoding.to_json(_plugin())["state"] == "ready"
    status = smi_pb2.ModelStatus(state=smi_pb2.MODEL_STATE_UNAVAILABLE)
    assert encoding.to_json(status)["state"] == "unavailable"
    assert encoding.enum_prefix(smi_pb2.PluginState.DESCRIPTOR) == "PLUGIN_STATE_"


def test_unknown_enum_number_renders_as_number() -> None:
    assert encoding.enum_name(smi_pb2.PluginState.DESCRIPTOR, 99) == 99


def test_oneof_shows_only_the_member_that_is_set() -> None:
    assert encoding.to_json(_plugin())["source"] == {"entry_point": "onnx"}
    assert encoding.to_json(smi_pb2.PluginSource()) == {}
    assert encoding.to_json(smi_pb2.PluginSource(executable="")) == {"executable": ""}


def test_64_bit_integers_are_numbers() -> None:
    host = smi_pb2.HostResources(memory_total_bytes=2**40, cpu_percent=12.5)
    rendered = encoding.to_json(host)
    assert rendered["memory_total_bytes"] == 2**40
    assert encoding.dumps(rendered).startswith(b'{"cpu_count":0,"cpu_percent":12.5,')


def test_maps_are_objects() -> None:
    metadata = smi_pb2.ModelMetadata(properties={"opset": "17"})
    assert encoding.to_json(metadata)["properties"] == {"opset": "17"}


def test_round_trip() -> None:
    status = _plugin()
    assert encoding.from_json(encoding.to_json(status), smi_pb2.PluginStatus()) == status
    model = smi_pb2.ModelStatus(name="m", version="2", config={"threads": "1"})
    model.metadata.inputs.add(name="x", datatype="FP32", shape=[-1, 4])
    assert encoding.from_json(encoding.to_json(model), smi_pb2.ModelStatus()) == model


def test_from_json_accepts_enum_names_and_ignores_unknown_keys() -> None:
    parsed = encoding.from_json(
        {"state": "failed", "unknown": 1, "source": {"module": "a.b:C"}}, smi_pb2.PluginStatus()
    )
    assert parsed.state == smi_pb2.PLUGIN_STATE_FAILED
    assert parsed.source.module == "a.b:C"
    full_name = encoding.from_json({"state": "PLUGIN_STATE_READY"}, smi_pb2.PluginStatus())
    assert full_name.state == smi_pb2.PLUGIN_STATE_READY


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": 3}, "body.name: expected a string"),
        ({"config": {"a": 1}}, "body.config.a: expected a string"),
        ({"config": []}, "body.config: expected an object"),
        ({"state": "nope"}, "body.state: unknown value 'nope'"),
        ({"pid": "1"}, "body.pid: expected an integer"),
        ({"pid": True}, "body.pid: expected an integer"),
        ({"pid": 2**40}, "body.pid"),
        ({"pid": 1.5}, "body.pid: expected an integer"),
        ({"pid": float("inf")}, "body.pid: expected an integer"),
        ({"pid": 1e300}, "body.pid"),
        ({"models": "m/1"}, "body.models: expected an array"),
    ],
)
def test_from_json_names_the_bad_field(body: dict[str, object], message: str) -> None:
    target = smi_pb2.ModelStatus() if "config" in body else smi_pb2.PluginStatus()
    with pytest.raises(InvalidArgument, match="^" + message.replace("[", r"\[")):
        encoding.from_json(body, target)


def test_a_whole_number_written_as_a_float_is_an_integer() -> None:
    """JSON has one number type: 3600.0 is the integer 3600, as JSON Schema says."""
    parsed = encoding.from_json({"ttl_seconds": 3600.0}, smi_pb2.CreateTokenRequest())
    assert parsed.ttl_seconds == 3600 and isinstance(parsed.ttl_seconds, int)


def test_loads_rejects_bad_utf8_and_bad_json() -> None:
    with pytest.raises(InvalidArgument, match=r"UTF-8|JSON"):
        encoding.loads(b'{"name": "\xff"}')
    with pytest.raises(InvalidArgument, match="JSON"):
        encoding.loads(b"{nope")
    assert encoding.loads(b'{"a": [1, 2.5, "\xc3\xa9"]}') == {"a": [1, 2.5, "é"]}
