"""The kubernetes target against a real API server (etcd, kube-apiserver, controller-manager,
scheduler, kubemark hollow nodes): every rendered object accepted, the strategies' Deployment
and ReplicaSet semantics, the Lease lock, state in the cluster for other processes, and a
canary judged on a real Prometheus and rolled back by the router.

Hollow nodes fake pod addresses: no pod has probes here and nothing sends traffic to a pod.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from pipelines.config.deploy import StrategyKind
from pipelines.config.pipeline import load_config
from pipelines.deploy.kubernetes.argo import Reading
from pipelines.deploy.kubernetes.client import KubeClient
from pipelines.deploy.kubernetes.handoff import abort, apply_and_follow, follow, promote
from pipelines.deploy.kubernetes.lease import LeaseLock, micro_time
from pipelines.deploy.kubernetes.render import render_target, scope_of
from pipelines.deploy.kubernetes.state import JOURNAL_KEY, STABLE_KEY
from pipelines.deploy.kubernetes.validate import crd_documents
from tests.integration.kubernetes_cluster import Cluster, describe
from tests.integration.servers import free_port, need, server, wait_until

pytestmark = pytest.mark.integration

RELEASE = "portable-pipelines.dev/release"


@pytest.fixture(scope="module")
def crds(cluster: Cluster) -> Cluster:
    """Our CRDs of exactly the fields we write, established in the cluster."""
    for crd in crd_documents():
        cluster.client.apply(crd)

    def established() -> bool:
        for crd in crd_documents():
            found = cluster.client.get("CustomResourceDefinition", None, crd["metadata"]["name"])
            conditions = ((found or {}).get("status") or {}).get("conditions") or []
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return False
        return True

    wait_until(established, 60, "the CRDs to be established")
    return cluster


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real Prometheus scraping a real Pushgateway every second: (prometheus, pushgateway)."""
    prometheus_bin, pushgateway_bin = need("prometheus"), need("prometheus-pushgateway")
    tmp = tmp_path_factory.mktemp("prometheus")
    ports = {"prometheus": free_port(), "pushgateway": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "pushgateway",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['pushgateway']}"]}],
                    }
                ],
            }
        )
    )
    with ExitStack() as stack:
        stack.enter_context(
            server(
                [pushgateway_bin, f"--web.listen-address=127.0.0.1:{ports['pushgateway']}"],
                urls["pushgateway"] + "/-/ready",
                tmp / "pushgateway.log",
            )
        )
        stack.enter_context(
            server(
                [
                    prometheus_bin,
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                ],
                urls["prometheus"] + "/-/ready",
                tmp / "prometheus.log",
            )
        )
        yield urls["prometheus"], urls["pushgateway"]


def push(pushgateway: str, version: str, error_rate: float, p95_ms: float) -> None:
    """The service's metrics of one version, as its pods would report them."""
    registry = CollectorRegistry()
    Gauge("shop_error_rate_percent", "errors", ["version"], registry=registry).labels(version).set(
        error_rate
    )
    Gauge("shop_p95_ms", "latency", ["version"], registry=registry).labels(version).set(p95_ms)
    push_to_gateway(
        pushgateway.removeprefix("http://"),
        job="shop",
        grouping_key={"instance": version},
        registry=registry,
    )


def scraped(prometheus: str, version: str) -> bool:
    query = urllib.parse.urlencode({"query": f'shop_error_rate_percent{{version="{version}"}}'})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=5) as response:
        return bool(json.loads(response.read())["data"]["result"])


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{secrets.token_hex(4)}"
    cluster.client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    # Shown only beside a failing test (pytest prints a failed test's captured teardown).
    print(describe(cluster, name))
    cluster.client.delete("Namespace", None, name)


def write_project(
    directory: Path,
    namespace: str,
    *,
    router: str = "gateway-api",
    strategy: str = "rolling",
    prometheus: str | None = None,
    interval: str = "1s",
    steps: str = "[50, 100]",
) -> Path:
    analysis: dict[str, Any] = {"compare": False, "interval": interval}
    if prometheus:
        analysis.update(
            {
                "prometheus": prometheus,
                "error_rate_query": 'max(shop_error_rate_percent{version="{version}"})',
                "latency_query": 'max(shop_p95_ms{version="{version}"})',
                "max_error_rate": {"value": 5, "op": ">"},
                "max_p95_ms": {"value": 500, "op": ">"},
            }
        )
    config = {
        "version": 1,
        "name": "shop",
        "service": {"image": "registry.example.com/shop:{version}", "env": {"MODE": "test"}},
        "environments": {
            "production": {
                "deploy": {
                    "strategy": strategy,
                    "instances": 2,
                    "steps": yaml.safe_load(steps),
                    "keep_old_for": "1s",
                    "pre_promotion_analysis": prometheus is not None,
                    "analysis": analysis,
                    "targets": [
                        {
                            "name": "cluster",
                            "kind": "kubernetes",
                            "kubernetes": {
                                "namespace": namespace,
                                "router": router,
                                "gateway": "infra/public",
                                "probes": False,  # hollow nodes: no kubelet reaches a pod
                                # Long enough for a starved controller to renew in time;
                                # a dead holder's lease is expired by expire_lease().
                                "lease_duration": "60s",
                                "ready_timeout": "300s",
                            },
                        }
                    ],
                }
            }
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def state_of(project: Path) -> str:
    """The project's deploy state directory (beside it: a release snapshots the project)."""
    return str(project.parent / (project.name + "-state"))


def cli(
    cluster: Cluster, project: Path, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``pipelines ARGS -C project --env production`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args, "-C", str(project), "--env", "production"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={
            **os.environ,
            **cluster.env(),
            "PIPELINES_STATE_DIR": state_of(project),
        },
    )


def deploy(
    cluster: Cluster, project: Path, version: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return cli(
        cluster, project, "deploy", "--force", "--reason", "test", "--version", version, *extra
    )


def deployments(client: KubeClient, namespace: str) -> dict[str, dict[str, Any]]:
    return {
        item["metadata"]["labels"][RELEASE]: item
        for item in client.list("Deployment", namespace, "app.kubernetes.io/name=shop-production")
    }


def selected(client: KubeClient, namespace: str, role: str) -> str:
    found = client.get("Service", namespace, f"shop-production-{role}")
    assert found is not None
    return str(found["spec"]["selector"].get(RELEASE, ""))


def weights(client: KubeClient, namespace: str) -> list[int]:
    route = client.get("HTTPRoute", namespace, "shop-production")
    assert route is not None
    return [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]]


def journal(client: KubeClient, namespace: str) -> list[dict[str, Any]]:
    found = client.get("ConfigMap", namespace, "shop-production-deploy-state")
    assert found is not None
    return [json.loads(line) for line in found["data"][JOURNAL_KEY].splitlines()]


def available(client: KubeClient, namespace: str, release: str) -> int:
    found = deployments(client, namespace).get(release)
    return int(((found or {}).get("status") or {}).get("availableReplicas") or 0)


def settles(client: KubeClient, namespace: str, releases: set[str], *, pods: int = 2) -> None:
    """Wait (generously: the cluster's controllers catch up on their own time on a busy
    machine) until exactly ``releases`` have Deployments, each with ``pods`` available."""

    def settled() -> bool:
        return set(deployments(client, namespace)) == releases and all(
            available(client, namespace, release) == pods for release in releases
        )

    wait_until(settled, 300, f"Deployments of exactly {sorted(releases)} with {pods} pods")


def expire_lease(client: KubeClient, namespace: str) -> None:
    """Age the deploy lock's Lease past its duration, as if its holder had stopped renewing
    an hour ago (waiting it out would race a busy machine)."""
    found = client.get("Lease", namespace, "shop-production-deploy-lock")
    assert found is not None and found["spec"].get("holderIdentity")
    found["spec"]["renewTime"] = micro_time(time.time() - 3600)
    client.replace(found)


def contains(stored: Any, rendered: Any) -> bool:
    """Everything we rendered is in what the server stored (it may add defaults)."""
    if isinstance(rendered, dict):
        return isinstance(stored, dict) and all(
            key in stored and contains(stored[key], value) for key, value in rendered.items()
        )
    if isinstance(rendered, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(rendered)
            and all(contains(s, r) for s, r in zip(stored, rendered, strict=True))
        )
    return bool(stored == rendered)


@pytest.mark.parametrize("router", ["gateway-api", "replicas", "argo-rollouts"])
def test_every_rendered_object_is_accepted_and_stored_unchanged(
    crds: Cluster, namespace: str, tmp_path: Path, router: str
) -> None:
    project = write_project(
        tmp_path, namespace, router=router, prometheus="http://prom:9090",
        steps="[25, {pause: 30s}, 50, {pause: null}, 100]",
    )  # fmt: skip
    written = yaml.safe_load((project / "pipeline.yaml").read_text())
    # Every blue-green field a Rollout can carry, so the CRDs are seen to keep them all.
    written["environments"]["production"]["deploy"].update(
        auto_promote=False, post_promotion_analysis=True
    )
    (project / "pipeline.yaml").write_text(yaml.safe_dump(written, sort_keys=False))
    config = load_config(project)
    environment = config.environment("production")
    scope = scope_of(config, environment, environment.deploy.targets[0])
    for strategy in (StrategyKind.CANARY, StrategyKind.BLUE_GREEN):
        objects = render_target(scope, environment, release="r1", version="1.0", strategy=strategy)
        for obj in objects:
            crds.client.apply(obj, dry_run=True)  # the server's own validation, nothing stored
        for obj in objects:
            crds.client.apply(obj)
            meta = obj["metadata"]
            stored = crds.client.get(obj["kind"], meta["namespace"], meta["name"])
            # Nothing pruned: an unknown field would vanish silently on Kubernetes 1.20.
            assert contains(stored, obj), (obj["kind"], stored)
        for obj in objects:  # the next strategy starts from nothing, as a new environment
            crds.client.delete(obj["kind"], namespace, obj["metadata"]["name"])


def test_rolling_deploys_replace_the_release_and_keep_state_in_the_cluster(
    cluster: Cluster, crds: Cluster, prometheus: tuple[str, str], namespace: str, tmp_path: Path
) -> None:
    prom, gateway = prometheus
    for version in ("1.0", "2.0"):
        push(gateway, version, error_rate=0.5, p95_ms=50)
    wait_until(lambda: scraped(prom, "2.0"), 60, "the metrics to be scraped")
    project = write_project(tmp_path / "a", namespace, prometheus=prom)
    first = deploy(cluster, project, "1.0")
    assert first.returncode == 0, first.stdout + first.stderr
    settles(cluster.client, namespace, {"r1"})
    assert selected(cluster.client, namespace, "stable") == "r1"
    assert weights(cluster.client, namespace)[0] > 0

    second = deploy(cluster, project, "2.0")
    assert second.returncode == 0, second.stdout + second.stderr
    settles(cluster.client, namespace, {"r2"})  # the old release left one pod at a time
    found = deployments(cluster.client, namespace)
    assert found["r2"]["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert selected(cluster.client, namespace, "stable") == "r2"
    events = [e["event"] for e in journal(cluster.client, namespace)]
    assert events.count("deploy-finished") == 2
    state = cluster.client.get("ConfigMap", namespace, "shop-production-deploy-state")
    assert state is not None
    assert json.loads(state["data"][STABLE_KEY]) == {"id": "r2", "version": "2.0"}

    # Another checkout on another machine (no local state at all) sees the same environment.
    elsewhere = write_project(tmp_path / "b", namespace, prometheus=prom)
    status = cli(cluster, elsewhere, "status", "--json")
    assert status.returncode == 0, status.stderr
    answer = json.loads(status.stdout)
    assert answer["stable"] == "r2 (2.0)"
    assert sorted(answer["targets"]["cluster"]["running"]) == ["r2-0", "r2-1"]

    back = cli(cluster, elsewhere, "rollback", "--reason", "test")
    assert back.returncode == 0, back.stdout + back.stderr
    assert selected(cluster.client, namespace, "stable") == "r1"
    settles(cluster.client, namespace, {"r1"})


def cordoned(client: KubeClient, on: bool) -> None:
    """Mark every node unschedulable (or schedulable again), as when the nodes are lost."""
    for node in client.request("GET", "/api/v1/nodes").get("items") or []:
        client.request(
            "PATCH",
            f"/api/v1/nodes/{node['metadata']['name']}",
            body={"spec": {"unschedulable": on}},
            content_type="application/merge-patch+json",
        )


def test_blue_green_switches_at_once_and_status_reports_a_pod_the_cluster_cannot_replace(
    cluster: Cluster, crds: Cluster, prometheus: tuple[str, str], namespace: str, tmp_path: Path
) -> None:
    prom, gateway = prometheus
    for version in ("7.0", "7.1"):
        push(gateway, version, error_rate=0.1, p95_ms=30)
    wait_until(lambda: scraped(prom, "7.1"), 60, "the metrics to be scraped")
    project = write_project(tmp_path, namespace, strategy="blue-green", prometheus=prom)
    assert deploy(cluster, project, "7.0").returncode == 0
    done = deploy(cluster, project, "7.1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert selected(cluster.client, namespace, "stable") == "r2"
    assert weights(cluster.client, namespace)[1] == 0  # one switch: no canary weight
    settles(cluster.client, namespace, {"r2"})
    planned = [e for e in journal(cluster.client, namespace) if e["event"] == "target-planned"]
    routes = [
        sorted(name for name, weight in step["weights"] if weight)
        for step in planned[-1]["steps"]
        if step["kind"] == "route"
    ]
    # The new pool takes all traffic in one switch: no step shares it between the pools.
    assert ["r2-0", "r2-1"] in routes, routes
    assert all(not any(n.startswith("r1") for n in r) for r in routes if "r2-0" in r), routes
    healthy = cli(cluster, project, "status", "--json")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    # A pod goes and no node can take its replacement: the environment serves below capacity.
    cordoned(cluster.client, True)
    try:
        pods = cluster.client.list("Pod", namespace, f"{RELEASE}=r2")
        cluster.client.delete("Pod", namespace, pods[0]["metadata"]["name"])
        wait_until(lambda: available(cluster.client, namespace, "r2") < 2, 120, "a pod to go")
        below = cli(cluster, project, "status", "--json")
        assert below.returncode == 1, below.stdout + below.stderr
        answer = json.loads(below.stdout)
        assert answer["below_capacity"] == ["cluster: 1 of 2 instances serve"], answer
        assert len(answer["targets"]["cluster"]["down"]) == 1
    finally:
        cordoned(cluster.client, False)
    settles(cluster.client, namespace, {"r2"})  # the cluster replaces it once a node can


def test_a_canary_that_fails_on_prometheus_is_rolled_back_by_the_router(
    cluster: Cluster, crds: Cluster, prometheus: tuple[str, str], namespace: str, tmp_path: Path
) -> None:
    prom, gateway = prometheus
    push(gateway, "3.0", error_rate=0.2, p95_ms=40)
    push(gateway, "3.1-bad", error_rate=40.0, p95_ms=40)
    wait_until(lambda: scraped(prom, "3.1-bad"), 60, "the metrics to be scraped")
    project = write_project(tmp_path, namespace, strategy="canary", prometheus=prom)
    assert deploy(cluster, project, "3.0").returncode == 0
    bad = deploy(cluster, project, "3.1-bad")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert selected(cluster.client, namespace, "stable") == "r1"
    assert (
        weights(cluster.client, namespace) == [1, 0] or weights(cluster.client, namespace)[1] == 0
    )
    settles(cluster.client, namespace, {"r1"})
    analysed = [e for e in journal(cluster.client, namespace) if e["event"] == "analysis"]
    assert analysed and analysed[-1]["measurement"]["verdict"] == "Failed"


def test_the_replicas_router_splits_by_ready_pods(
    cluster: Cluster, crds: Cluster, prometheus: tuple[str, str], namespace: str, tmp_path: Path
) -> None:
    prom, gateway = prometheus
    for version in ("4.0", "4.1"):
        push(gateway, version, error_rate=0.1, p95_ms=30)
    wait_until(lambda: scraped(prom, "4.1"), 60, "the metrics to be scraped")
    project = write_project(
        tmp_path, namespace, router="replicas", strategy="canary", prometheus=prom
    )
    assert deploy(cluster, project, "4.0").returncode == 0
    done = deploy(cluster, project, "4.1")
    assert done.returncode == 0, done.stdout + done.stderr
    settles(cluster.client, namespace, {"r2"})
    stable = cluster.client.get("Service", namespace, "shop-production-stable")
    assert stable is not None
    assert RELEASE not in stable["spec"]["selector"]  # one Service over every release
    split = [e for e in journal(cluster.client, namespace) if e["event"] == "analysis"]
    assert split  # the 50 % step ran with the pods of both releases behind one Service


def test_a_second_deploy_is_refused_while_the_lease_is_held_and_takes_over_when_it_expires(
    cluster: Cluster, crds: Cluster, prometheus: tuple[str, str], namespace: str, tmp_path: Path
) -> None:
    prom, gateway = prometheus
    push(gateway, "5.0", error_rate=0.1, p95_ms=30)
    project = write_project(tmp_path, namespace, prometheus=prom)
    lease = LeaseLock(
        cluster.client,
        namespace=namespace,
        name="shop-production-deploy-lock",
        holder="other-host/4242: deploy of production",
        duration=600,
    )
    lease.acquire()  # a live holder
    refused = deploy(cluster, project, "5.0")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "other-host/4242" in refused.stderr
    assert not deployments(cluster.client, namespace)
    expire_lease(cluster.client, namespace)  # the holder died and its lease ran out
    taken = deploy(cluster, project, "5.0")
    assert taken.returncode == 0, taken.stdout + taken.stderr
    stored = cluster.client.get("Lease", namespace, "shop-production-deploy-lock")
    assert stored is not None
    assert stored["spec"]["leaseTransitions"] >= 1
    assert not stored["spec"].get("holderIdentity")  # released when the deploy finished


def test_a_drill_on_the_cluster_keeps_apart_from_the_environment_and_cleans_up(
    cluster: Cluster, crds: Cluster, prometheus: tuple[str, str], namespace: str, tmp_path: Path
) -> None:
    prom, gateway = prometheus
    push(gateway, "9.0", error_rate=0.1, p95_ms=30)
    push(gateway, "drill-good", error_rate=0.1, p95_ms=30)
    push(gateway, "drill-faulty", error_rate=40.0, p95_ms=30)
    wait_until(lambda: scraped(prom, "drill-faulty"), 60, "the metrics to be scraped")
    project = write_project(tmp_path, namespace, strategy="canary", prometheus=prom)
    config = yaml.safe_load((project / "pipeline.yaml").read_text())
    config["service"]["faults"] = {"errors": {"FAIL_RATE": "0.5"}}
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert deploy(cluster, project, "9.0").returncode == 0
    settles(cluster.client, namespace, {"r1"})

    done = cli(cluster, project, "drill", "rollback", "--fault", "errors", "--rate", "0", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["passed"], report["problems"]
    assert report["outcome"] == "rolled-back"
    assert report["time_to_detect_seconds"] is not None
    assert report["clients_measured"] is False
    assert report["final_versions"] == ["drill-good"]  # what the drill's router answered

    # The environment serves what it served; the drill left nothing in the namespace.
    assert set(deployments(cluster.client, namespace)) == {"r1"}
    assert selected(cluster.client, namespace, "stable") == "r1"
    assert weights(cluster.client, namespace)[1] == 0
    drill_objects = "app.kubernetes.io/name=shop-production-drill"
    for kind in ("Deployment", "Service", "HTTPRoute"):
        assert not cluster.client.list(kind, namespace, drill_objects), kind
    assert cluster.client.get("ConfigMap", namespace, "shop-production-drill-deploy-state") is None
    assert cluster.client.get("Lease", namespace, "shop-production-drill-deploy-lock") is None
    assert cluster.client.get("ConfigMap", namespace, "shop-production-deploy-state") is not None


@pytest.mark.parametrize("then", ["resume", "rollback"])
def test_a_killed_controller_is_resumed_or_rolled_back_from_another_process(
    cluster: Cluster,
    *,
    crds: Cluster,
    prometheus: tuple[str, str],
    namespace: str,
    tmp_path: Path,
    then: str,
) -> None:
    prom, gateway = prometheus
    for version in ("6.0", "6.1"):
        push(gateway, version, error_rate=0.1, p95_ms=30)
    wait_until(lambda: scraped(prom, "6.1"), 60, "the metrics to be scraped")
    project = write_project(
        tmp_path / "a", namespace, strategy="canary", prometheus=prom, interval="30s"
    )
    assert deploy(cluster, project, "6.0").returncode == 0
    controller = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "deploy", "--force", "--reason", "test",
         "--version", "6.1", "-C", str(project), "--env", "production"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **cluster.env(), "PIPELINES_STATE_DIR": state_of(project)},
    )  # fmt: skip
    try:

        def analysing() -> bool:
            entries = journal(cluster.client, namespace)
            return any(e["event"] == "route" or e.get("index") == 3 for e in entries[-3:]) or (
                weights(cluster.client, namespace)[1] > 0
            )

        wait_until(analysing, 600, "the canary to get traffic")
    finally:
        controller.send_signal(signal.SIGKILL)
        controller.wait()
    assert weights(cluster.client, namespace)[1] > 0  # killed mid-canary, with traffic on it
    elsewhere = write_project(
        tmp_path / "b", namespace, strategy="canary", prometheus=prom, interval="1s"
    )
    expire_lease(cluster.client, namespace)  # the dead controller's lease runs out
    if then == "resume":
        done = cli(cluster, elsewhere, "deploy", "--resume")
        assert done.returncode == 0, done.stdout + done.stderr
        assert selected(cluster.client, namespace, "stable") == "r2"
        settles(cluster.client, namespace, {"r2"})
    else:
        done = cli(cluster, elsewhere, "rollback", "--reason", "killed")
        assert done.returncode == 0, done.stdout + done.stderr
        assert selected(cluster.client, namespace, "stable") == "r1"
        assert weights(cluster.client, namespace)[1] == 0
        settles(cluster.client, namespace, {"r1"})


class ArgoDouble(threading.Thread):
    """Argo Rollouts' side of the contract (its controller cannot run here): it reads the
    Rollout and writes ``.status`` as the Argo documentation describes: ``observedGeneration``
    of the spec it acted on, ``phase``, ``pauseConditions`` while paused, ``abort`` and
    ``Degraded`` when the analysis failed."""

    def __init__(self, client: KubeClient, namespace: str, name: str, outcome: str) -> None:
        super().__init__(daemon=True)
        self.client, self.namespace, self.name, self.outcome = client, namespace, name, outcome
        self.stop = threading.Event()

    def write(self, status: dict[str, Any]) -> None:
        self.client.merge_patch(
            "Rollout", self.namespace, self.name, {"status": status}, subresource="status"
        )

    def run(self) -> None:
        while not self.stop.is_set():
            found = self.client.get("Rollout", self.namespace, self.name)
            if found is None:
                time.sleep(0.2)
                continue
            generation = str(found["metadata"]["generation"])
            status = found.get("status") or {}
            if status.get("observedGeneration") != generation:
                self.write({"observedGeneration": generation, "phase": "Progressing"})
            elif status.get("phase") == "Progressing":
                self.write(self.ending(found))
            elif status.get("phase") == "Paused" and not status.get("pauseConditions"):
                self.write({"phase": "Healthy", "message": "promoted"})
            time.sleep(0.2)

    def ending(self, rollout: dict[str, Any]) -> dict[str, Any]:
        steps = rollout["spec"]["strategy"].get("canary", {}).get("steps", [])
        if self.outcome == "healthy":
            return {"phase": "Healthy", "currentStepIndex": len(steps)}
        if self.outcome == "paused":
            return {
                "phase": "Paused",
                "message": "BlueGreenPause",
                "pauseConditions": [
                    {"reason": "BlueGreenPause", "startTime": "2026-01-01T00:00:00Z"}
                ],
            }
        return {"phase": "Degraded", "abort": True, "message": "metric error-rate-percent failed"}


@pytest.mark.parametrize(
    ("strategy", "outcome", "reading"),
    [
        ("canary", "healthy", Reading.SUCCEEDED),
        ("canary", "failed", Reading.ROLLED_BACK),
        ("blue-green", "paused", Reading.PAUSED),
    ],
)
def test_an_argo_rollout_is_followed_through_its_status(
    crds: Cluster, namespace: str, tmp_path: Path, *, strategy: str, outcome: str, reading: Reading
) -> None:
    project = write_project(
        tmp_path, namespace, router="argo-rollouts", strategy=strategy, prometheus="http://p:9090"
    )
    config = load_config(project)
    environment = config.environment("production")
    scope = scope_of(config, environment, environment.deploy.targets[0])
    objects = render_target(scope, environment, release="r1", version="7.0")
    double = ArgoDouble(crds.client, namespace, scope.app, outcome)
    double.start()
    lines: list[str] = []
    try:
        status = apply_and_follow(crds.client, scope, objects, timeout=60, log=lines.append)
        assert status.reading is reading, lines
        if reading is Reading.PAUSED:
            promote(crds.client, scope)  # what `pipelines promote` writes
            assert follow(crds.client, scope, timeout=60, log=lines.append).reading is (
                Reading.SUCCEEDED
            )
    finally:
        double.stop.set()
        double.join()
    assert "has not seen this spec yet" in lines[0]  # a status for an older spec is no answer


def test_an_argo_rollout_without_an_answer_never_counts_as_a_success(
    crds: Cluster, namespace: str, tmp_path: Path
) -> None:
    project = write_project(tmp_path, namespace, router="argo-rollouts", strategy="canary")
    config = load_config(project)
    environment = config.environment("production")
    scope = scope_of(config, environment, environment.deploy.targets[0])
    objects = render_target(scope, environment, release="r1", version="7.1")
    status = apply_and_follow(crds.client, scope, objects, timeout=2, log=lambda _: None)
    assert status.reading is Reading.WAITING
    assert "no outcome within" in status.message
    abort(crds.client, scope)  # what `abort` writes; Argo would then go back to stable
    stored = crds.client.get("Rollout", namespace, scope.app)
    assert stored is not None
    assert stored["status"]["abort"] is True


@pytest.mark.parametrize(("outcome", "code"), [("healthy", 0), ("failed", 1)])
def test_pipelines_deploy_hands_off_to_argo_and_exits_by_the_rollout_status(
    crds: Cluster, namespace: str, tmp_path: Path, outcome: str, code: int
) -> None:
    project = write_project(tmp_path / "p", namespace, router="argo-rollouts", strategy="canary")
    double = ArgoDouble(crds.client, namespace, "shop-production", outcome)
    double.start()
    try:
        done = deploy(crds, project, "8.0")
    finally:
        double.stop.set()
        double.join()
    assert done.returncode == code, done.stdout + done.stderr
    assert "Rollout" in done.stdout
    stored = crds.client.get("Rollout", namespace, "shop-production")
    assert stored is not None
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":8.0")
    if outcome == "failed":
        assert "rolled-back" in done.stdout
