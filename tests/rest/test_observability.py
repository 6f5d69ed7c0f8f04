"""/v2/trace/setting, /v2/models/{name}/trace/setting and /v2/logging over the REST app."""

from __future__ import annotations

import httpx

from tests.rest.conftest import StubEngine


async def test_trace_settings_server_wide_and_per_model(
    client: httpx.AsyncClient, engine: StubEngine
) -> None:
    seen: list[tuple[str, str]] = []

    async def spy(call, request, proceed):  # type: ignore[no-untyped-def]
        seen.append((call.operation.name, call.model))
        return await proceed(call, request)

    engine.pipeline.add(spy)
    assert (await client.get("/v2/trace/setting")).json()["trace_level"] == ["OFF"]
    changed = await client.post("/v2/trace/setting", json={"trace_level": ["TIMESTAMPS"]})
    assert changed.status_code == 200 and changed.json()["trace_level"] == ["TIMESTAMPS"]
    own = await client.post("/v2/models/add/trace/setting", json={"trace_rate": 1})
    assert own.json()["trace_rate"] == "1" and own.json()["trace_level"] == ["TIMESTAMPS"]
    assert (await client.get("/v2/models/add/trace/setting")).json() == own.json()
    assert (await client.post("/v2/trace/setting")).json()["trace_rate"] == "1000"  # no body
    assert seen[1:3] == [("trace_setting", ""), ("trace_setting", "add")]

    missing = await client.get("/v2/models/nope/trace/setting")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    bad = await client.post("/v2/trace/setting", json={"trace_level": ["OFF", "TENSORS"]})
    assert bad.status_code == 400 and "cannot be combined" in bad.json()["error"]
    assert bad.json()["error"].startswith('body.trace_level: ["OFF","TENSORS"] is not valid: ')
    for refused in ({"trace_mode": "x"}, {"trace_count": "0x10"}, {"trace_rate": 0}):
        assert (await client.post("/v2/trace/setting", json=refused)).status_code == 400
    not_an_object = await client.post("/v2/trace/setting", json=["trace_rate"])
    assert not_an_object.status_code == 400 and set(not_an_object.json()) == {"error"}


async def test_log_settings(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/logging")).json()["log_verbose_level"] == 0
    changed = await client.post("/v2/logging", json={"log_verbose_level": 1, "log_info": None})
    assert changed.status_code == 200
    assert (changed.json()["log_verbose_level"], changed.json()["log_info"]) == (1, True)
    bad = await client.post("/v2/logging", json={"log_warning": "no"})
    assert bad.status_code == 400
    assert bad.json()["error"] == 'body.log_warning: "no" is not valid: true or false: write WARNING records.'
    unknown = await client.post("/v2/logging", json={"log_color": True})
    assert unknown.status_code == 400 and "log_color" in unknown.json()["error"]


async def test_a_v2_json_body_labelled_as_a_form_is_read_as_json(client: httpx.AsyncClient) -> None:
    # libcurl's default label: Triton's C++ client (perf_analyzer) sends JSON bodies so.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post(
        "/v2/trace/setting", content=b'{"trace_rate": "5"}', headers=form
    )
    assert response.status_code == 200 and response.json()["trace_rate"] == "5"
    elsewhere = await client.post("/v1/plugins", content=b'{"name": "p"}', headers=form)
    assert elsewhere.status_code == 415
