"""The kubernetes target's objects, rendered from pipeline.yaml without a cluster: what they
say, that Kubernetes' schemas (1.25-1.37, strict) and our CRDs accept them, and how an Argo
Rollout's status maps to our outcomes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cli import main
from pipelines.config.deploy import StrategyKind
from pipelines.config.pipeline import PipelineConfig, load_config
from pipelines.deploy.kubernetes import argo, validate
from pipelines.deploy.kubernetes.manifests import DRILL_HEADER, http_route
from pipelines.deploy.kubernetes.render import render_environment, scope_of

SERVICE = (
    "name: shop\n"
    "service:\n"
    "  image: 'registry.example.com/shop:{version}'\n"
    "  container_port: 8080\n"
    "  health_path: /healthz\n"
    "  env: {GREETING: hello, VERSION: '{version}'}\n"
)


def project(tmp_path: Path, kubernetes: str, deploy: str = "") -> PipelineConfig:
    (tmp_path / "pipeline.yaml").write_text(
        "version: 1\n" + SERVICE + "environments:\n"
        "  production:\n"
        "    env: {REGION: eu}\n"
        "    deploy:\n"
        "      strategy: canary\n"
        "      instances: 3\n"
        "      steps: [10, 50, 100]\n"
        "      keep_old_for: 90s\n" + deploy + "      targets:\n"
        "        - name: cluster\n"
        "          kind: kubernetes\n"
        "          kubernetes:\n" + kubernetes
    )
    return load_config(tmp_path)


GATEWAY = "            {namespace: shop, gateway: infra/public, hostnames: [shop.example.com]}\n"
PROMETHEUS = (
    "      analysis:\n"
    "        prometheus: http://prometheus.monitoring:9090\n"
    "        error_rate_query: 'sum(rate(errors{version=\"{version}\"}[1m]))'\n"
    "        latency_query: 'p95{version=\"{version}\"}'\n"
    "        max_error_rate: {value: 2, op: '>'}\n"
    "        max_p95_ms: {value: 300, op: '>='}\n"
    "        count: 4\n"
    "        interval: 30s\n"
    "        failure_limit: 1\n"
    "        inconclusive_limit: 2\n"
    "        error_limit: 3\n"
)


def by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        found.setdefault(obj["kind"], []).append(obj)
    return found


def test_a_release_is_a_deployment_with_the_service_settings(tmp_path: Path) -> None:
    config = project(tmp_path, GATEWAY)
    env = config.environment("production")
    objects = by_kind(render_environment(config, env, release="r2", version="1.4.0"))
    (deployment,) = objects["Deployment"]
    assert deployment["metadata"]["name"] == "shop-production-r2"
    assert deployment["metadata"]["namespace"] == "shop"
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["portable-pipelines.dev/release"] == "r2"
    assert pod["metadata"]["labels"]["portable-pipelines.dev/environment"] == "production"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example.com/shop:1.4.0"
    env_vars = {item["name"]: item["value"] for item in container["env"]}
    assert env_vars == {"GREETING": "hello", "VERSION": "1.4.0", "REGION": "eu", "PORT": "8080"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_probes_can_be_left_out_for_nodes_no_kubelet_probes(tmp_path: Path) -> None:
    config = project(tmp_path, "            {gateway: public, probes: false}\n")
    objects = by_kind(render_environment(config, config.environment("production")))
    (container,) = objects["Deployment"][0]["spec"]["template"]["spec"]["containers"]
    assert "readinessProbe" not in container
    assert "livenessProbe" not in container


def test_the_gateway_api_router_weights_stable_and_canary_services(tmp_path: Path) -> None:
    config = project(tmp_path, GATEWAY)
    objects = by_kind(render_environment(config, config.environment("production"), release="r1"))
    services = {s["metadata"]["name"]: s for s in objects["Service"]}
    assert set(services) == {"shop-production-stable", "shop-production-canary"}
    for item in services.values():
        assert item["spec"]["selector"]["portable-pipelines.dev/release"] == "r1"
    (route,) = objects["HTTPRoute"]
    assert route["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public",
         "namespace": "infra"}
    ]  # fmt: skip
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [
        ("shop-production-stable", 100),
        ("shop-production-canary", 0),
    ]
    assert route["spec"]["hostnames"] == ["shop.example.com"]


def test_the_gateway_api_router_needs_a_gateway(tmp_path: Path, capsys: Any) -> None:
    project(tmp_path, "            {namespace: shop}\n")
    assert main(["validate", "-C", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "kubernetes.gateway" in error


def test_the_replicas_router_has_one_service_over_every_release(tmp_path: Path) -> None:
    config = project(tmp_path, "            {router: replicas}\n")
    objects = by_kind(render_environment(config, config.environment("production")))
    (item,) = objects["Service"]
    assert "portable-pipelines.dev/release" not in item["spec"]["selector"]
    assert "HTTPRoute" not in objects


@pytest.mark.parametrize("router", ["gateway-api", "replicas", "argo-rollouts"])
def test_every_rendered_object_passes_the_kubernetes_schemas_and_our_crds(
    tmp_path: Path, router: str
) -> None:
    config = project(tmp_path, f"            {{router: {router}, gateway: public}}\n", PROMETHEUS)
    env = config.environment("production")
    for strategy in (StrategyKind.CANARY, StrategyKind.BLUE_GREEN):
        objects = render_environment(config, env, strategy=strategy)
        assert objects
        assert validate.check(objects) == []


def test_a_field_our_crd_does_not_declare_is_an_error() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r"},
        "spec": {"parentRefs": [{"name": "g", "sectionName": "https"}]},
    }
    (problem,) = validate.check([route])
    assert "sectionName" in problem.message
    assert problem.object == "HTTPRoute/r"


def test_a_core_object_is_checked_strictly_against_kubernetes() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": "http", "weight": 3}]},
    }
    (problem,) = validate.check([service])
    assert "weight" in problem.message
    assert problem.schema == "Kubernetes 1.25"


def test_validate_reports_the_kubernetes_objects(tmp_path: Path, capsys: Any) -> None:
    project(tmp_path, GATEWAY, PROMETHEUS)
    assert main(["validate", "-C", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "environments.production:" in out
    assert "Kubernetes 1.25-1.37" in out


def test_deploy_render_prints_the_objects_as_yaml(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path, GATEWAY)
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path / "state"))
    code = main(
        ["deploy", "-C", str(tmp_path), "--env", "production", "--render", "--version", "2.0"]
    )
    assert code == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "Service", "HTTPRoute"]
    assert documents[0]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.0")


def test_argo_canary_steps_and_analysis_come_from_the_same_settings(tmp_path: Path) -> None:
    config = project(tmp_path, "            {router: argo-rollouts}\n", PROMETHEUS)
    objects = by_kind(render_environment(config, config.environment("production")))
    (rollout,) = objects["Rollout"]
    canary = rollout["spec"]["strategy"]["canary"]
    templates = [{"templateName": "shop-production-error-rate"},
                 {"templateName": "shop-production-latency"}]  # fmt: skip
    assert canary["steps"] == [
        {"setWeight": 10},
        {"analysis": {"templates": templates}},
        {"setWeight": 50},
        {"analysis": {"templates": templates}},
    ]
    assert canary["stableService"] == "shop-production-stable"
    assert rollout["spec"]["replicas"] == 3
    error_rate, latency = objects["AnalysisTemplate"]
    metric = error_rate["spec"]["metrics"][0]
    assert metric["provider"]["prometheus"]["query"] == (
        'sum(rate(errors{version="{{args.version}}"}[1m]))'
    )
    assert (metric["failureLimit"], metric["inconclusiveLimit"]) == (1, 2)
    assert metric["consecutiveErrorLimit"] == 3
    assert (metric["count"], metric["interval"]) == (4, "30s")
    assert metric["failureCondition"] == "result[0] > 2"
    assert metric["successCondition"] == "result[0] <= 2"
    assert latency["spec"]["metrics"][0]["failureCondition"] == "result[0] >= 300"
    assert latency["spec"]["metrics"][0]["successCondition"] == "result[0] < 300"


def test_argo_blue_green_maps_services_promotion_and_scale_down(tmp_path: Path) -> None:
    config = project(tmp_path, "            {router: argo-rollouts}\n", PROMETHEUS)
    objects = by_kind(
        render_environment(
            config, config.environment("production"), strategy=StrategyKind.BLUE_GREEN
        )
    )
    blue_green = objects["Rollout"][0]["spec"]["strategy"]["blueGreen"]
    assert blue_green["activeService"] == "shop-production-stable"
    assert blue_green["previewService"] == "shop-production-canary"
    assert blue_green["autoPromotionEnabled"] is True
    assert blue_green["scaleDownDelaySeconds"] == 90
    assert len(blue_green["prePromotionAnalysis"]["templates"]) == 2


def test_argo_without_queries_pauses_between_weights(tmp_path: Path) -> None:
    config = project(tmp_path, "            {router: argo-rollouts, argo_step_pause: 2m}\n")
    objects = by_kind(render_environment(config, config.environment("production")))
    steps = objects["Rollout"][0]["spec"]["strategy"]["canary"]["steps"]
    assert steps[1] == {"pause": {"duration": "120s"}}
    assert "AnalysisTemplate" not in objects


def test_argo_has_no_rolling_strategy(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "version: 1\n" + SERVICE + "environments:\n  production:\n    deploy:\n"
        "      strategy: rolling\n"
        "      targets: [{name: c, kind: kubernetes, kubernetes: {router: argo-rollouts}}]\n"
    )
    assert main(["validate", "-C", str(tmp_path)]) == 2
    assert "no rolling strategy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("status", "generation", "reading"),
    [
        ({"phase": "Healthy", "observedGeneration": "3"}, 3, argo.Reading.SUCCEEDED),
        ({"phase": "Progressing", "observedGeneration": "3"}, 3, argo.Reading.WAITING),
        ({"phase": "Paused", "observedGeneration": "3", "pauseConditions": [{"reason": "x"}]},
         3, argo.Reading.PAUSED),
        ({"phase": "Paused", "observedGeneration": "3"}, 3, argo.Reading.WAITING),
        ({"phase": "Degraded", "observedGeneration": "3"}, 3, argo.Reading.ROLLED_BACK),
        ({"phase": "Paused", "abort": True, "observedGeneration": "3"}, 3,
         argo.Reading.ROLLED_BACK),
        ({"phase": "Healthy", "observedGeneration": "2"}, 3, argo.Reading.WAITING),
        ({"phase": "Unknown", "observedGeneration": "3"}, 3, argo.Reading.WAITING),
        ({}, 1, argo.Reading.WAITING),
    ],
)  # fmt: skip
def test_a_rollout_status_maps_to_our_outcome_and_fails_closed(
    status: dict[str, Any], generation: int, reading: argo.Reading
) -> None:
    obj = {"metadata": {"generation": generation}, "status": status}
    assert argo.read_status(obj).reading is reading


def test_the_published_schema_knows_the_kubernetes_settings() -> None:
    schema = json.loads(
        (Path(__file__).parents[2] / "docs/schema/pipeline.schema.json").read_text()
    )
    text = json.dumps(schema)
    assert "argo-rollouts" in text
    assert "lease_duration" in text


def test_a_drill_refuses_an_environment_handed_to_argo(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "version: 1\n" + SERVICE + "  faults: {errors: {FAIL_RATE: '0.5'}}\n"
        "environments:\n  production:\n    deploy:\n      strategy: canary\n"
        "      targets: [{name: c, kind: kubernetes, kubernetes: {router: argo-rollouts}}]\n"
    )
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    argv = ["drill", "rollback", "-C", str(tmp_path), "--env", "production", "--fault", "errors"]
    assert main(argv) == 2
    assert "Argo's own analysis decides its rollbacks" in capsys.readouterr().err


def test_a_drill_route_takes_only_requests_with_the_drill_header(tmp_path: Path) -> None:
    config = project(tmp_path, GATEWAY)
    environment = config.environment("production")
    target = environment.deploy.targets[0]
    drill = replace(scope_of(config, environment, target), environment="production-drill")
    route = http_route(replace(drill, drill=True), 100, 0)
    assert route["metadata"]["name"] == "shop-production-drill"
    assert route["spec"]["rules"][0]["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": DRILL_HEADER, "value": "production-drill"}],
        }
    ]
    assert validate.check([route]) == []  # our CRD declares the header match
    plain = http_route(scope_of(config, environment, target), 100, 0)
    assert "headers" not in plain["spec"]["rules"][0]["matches"][0]


def test_argo_gets_the_pauses_the_manual_gate_and_the_post_promotion_analysis(
    tmp_path: Path,
) -> None:
    config = project(
        tmp_path,
        "            {router: argo-rollouts}\n",
        PROMETHEUS + "      auto_promote: false\n      post_promotion_analysis: true\n",
    )
    text = (tmp_path / "pipeline.yaml").read_text()
    (tmp_path / "pipeline.yaml").write_text(
        text.replace("steps: [10, 50, 100]", "steps: [10, {pause: 90s}, 50, {pause: null}, 100]")
    )
    config = load_config(tmp_path)
    objects = by_kind(render_environment(config, config.environment("production")))
    steps = objects["Rollout"][0]["spec"]["strategy"]["canary"]["steps"]
    assert [next(iter(step)) for step in steps] == [
        "setWeight", "analysis", "pause", "setWeight", "analysis", "pause",
    ]  # fmt: skip
    assert steps[2] == {"pause": {"duration": "90s"}} and steps[5] == {"pause": {}}
    objects = by_kind(
        render_environment(
            config, config.environment("production"), strategy=StrategyKind.BLUE_GREEN
        )
    )
    blue_green = objects["Rollout"][0]["spec"]["strategy"]["blueGreen"]
    assert blue_green["autoPromotionEnabled"] is False
    assert len(blue_green["postPromotionAnalysis"]["templates"]) == 2
