"""deploy/kubernetes/: every manifest valid against the Kubernetes API schemas (offline, strict),
the KServe ServingRuntime against its schema, and the pieces consistent with each other and with
MLOS itself (probe paths, ports, labels, settings, drain time)."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml

from mlos.cli.main import build_parser
from mlos.config import KEYS, Settings, StartupModel
from mlos.server import DRAIN_SECONDS

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
SERVING_RUNTIME = KUBE / "kserve" / "servingruntime.yaml"
RUNTIME_SCHEMA = Path(__file__).with_name("kserve-servingruntime-v1alpha1.schema.json")
# The oldest Kubernetes these manifests promise to fit, and the newest the schemas know.
VERSIONS = ["1.29", kubernetes_validate.latest_version()]


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def manifests() -> dict[str, dict[str, Any]]:
    """The Kubernetes objects of deploy/kubernetes/, by kind."""
    found = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            document = load(path)
            found[document["kind"]] = document
    return found


def runtime_validator(version: str) -> jsonschema.protocols.Validator:
    """The ServingRuntime schema, its Kubernetes types from kubernetes-validate's `version`."""
    folder = resources.files(kubernetes_validate) / "kubernetes-json-schema"
    chosen = max(
        (p.name for p in folder.iterdir() if p.name.endswith("-local-strict")
         and _major_minor(p.name) <= _major_minor(version)),
        key=_major_minor,
    )
    definitions = json.loads((folder / chosen / "_definitions.json").read_text())
    schema = json.loads(RUNTIME_SCHEMA.read_text())
    registry: referencing.Registry[Any] = referencing.Registry().with_resources([
        (definitions["$id"], referencing.Resource.from_contents(definitions)),
        (schema["$id"], referencing.Resource.from_contents(schema)),
    ])
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _major_minor(name: str) -> tuple[int, int]:
    major, minor = name.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


# -- schema validation ------------------------------------------------------------------------


def test_the_four_kinds_are_there() -> None:
    assert set(manifests()) == {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"
    }


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["Deployment", "Service", "HorizontalPodAutoscaler",
                                  "PodDisruptionBudget"])
def test_manifests_are_valid_kubernetes_objects(kind: str, version: str) -> None:
    kubernetes_validate.validate(manifests()[kind], version, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    broken = copy.deepcopy(manifests()["Deployment"])
    pod(broken)["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_serving_runtime_is_valid(version: str) -> None:
    runtime_validator(version).validate(load(SERVING_RUNTIME))


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r["spec"].update(protocolVersions=["v3"]),
        lambda r: r["spec"].update(multiModell=False),
        lambda r: r["spec"]["containers"][0].update(imagee="x"),
        lambda r: r["spec"]["containers"].clear(),
        lambda r: r["spec"]["supportedModelFormats"][0].pop("name"),
        lambda r: r.update(apiVersion="serving.kserve.io/v1beta1"),
    ],
)
def test_the_serving_runtime_schema_rejects_mistakes(breakage: Any) -> None:
    runtime = load(SERVING_RUNTIME)
    breakage(runtime)
    assert not runtime_validator(VERSIONS[-1]).is_valid(runtime)


# -- consistency ------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_and_names_the_image() -> None:
    kustomization = load(KUBE / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    image = pod(manifests()["Deployment"])["containers"][0]["image"]
    assert [(i["name"], i["newTag"]) for i in kustomization["images"]] == [
        tuple(image.split(":"))
    ]


def test_selectors_and_targets_find_the_pods() -> None:
    objects = manifests()
    deployment = objects["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects["Service"]["spec"]["selector"].items() <= labels.items()
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2  # the PDB can act


def test_service_ports_reach_the_container_ports() -> None:
    objects = manifests()
    container = pod(objects["Deployment"])["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": KEYS["http_port"].default, "grpc": KEYS["grpc_port"].default}
    service = {p["name"]: p for p in objects["Service"]["spec"]["ports"]}
    assert {name: p["targetPort"] for name, p in service.items()} == {"http": "http", "grpc": "grpc"}
    assert service["grpc"]["appProtocol"] == "kubernetes.io/h2c"


def test_probes_ask_the_health_endpoints_mlos_serves() -> None:
    openapi = yaml.safe_load((REPO / "spec" / "openapi.yaml").read_text())
    for container in (pod(manifests()["Deployment"])["containers"][0],
                      load(SERVING_RUNTIME)["spec"]["containers"][0]):
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        for probe in ("livenessProbe", "readinessProbe"):
            assert "get" in openapi["paths"][container[probe]["httpGet"]["path"]]


def test_the_grace_period_covers_pre_stop_and_drain() -> None:
    spec = pod(manifests()["Deployment"])
    command = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] >= int(command[1]) + DRAIN_SECONDS + 5


def test_every_mlos_variable_is_a_setting() -> None:
    known = {key.env for key in KEYS.values()}
    for container in (pod(manifests()["Deployment"])["containers"][0],
                      load(SERVING_RUNTIME)["spec"]["containers"][0]):
        names = {e["name"] for e in container["env"] if e["name"].startswith("MLOS_")}
        assert names <= known
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MLOS_HOST"] == "0.0.0.0"
        assert Settings.load({}, env).host == "0.0.0.0"


def test_the_serving_runtime_registers_the_kserve_model_at_start() -> None:
    runtime = load(SERVING_RUNTIME)
    container = runtime["spec"]["containers"][0]
    assert container["name"] == "kserve-container"  # the name KServe merges predictor fields into
    assert {"v2", "grpc-v2"} <= set(runtime["spec"]["protocolVersions"])
    args = [arg.replace("{{.Name}}", "resnet") for arg in container["args"]]
    parsed = build_parser().parse_args(args)
    env = {e["name"]: e["value"] for e in container["env"]}
    settings = Settings.load({"models": parsed.models}, env)
    assert settings.models == (StartupModel("resnet", Path("/mnt/models"), "onnx"),)
    assert container["ports"][0]["containerPort"] == settings.http_port
