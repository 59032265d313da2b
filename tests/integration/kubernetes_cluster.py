"""A real Kubernetes control plane on loopback for the integration tests: etcd, kube-apiserver
(token auth, RBAC, service-account keys), kube-controller-manager and kube-scheduler without
leader election, and kubemark hollow nodes (real kubelet logic, faked container runtime).

The binaries come from scripts/k8s/build.sh (built from Debian's source package and cached
outside the checkout). Without them the tests skip, except in CI (CI=true) where they fail.
Hollow nodes report fake pod addresses: nothing here sends traffic to a pod.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.deploy.kubernetes.client import KubeClient, KubernetesError
from pipelines.deploy.kubernetes.kubeconfig import load_credentials
from tests.integration.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "k8s" / "build.sh"
BINARIES_ENV = "PIPELINES_K8S_BIN"
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubemark")
HOLLOW_NODES = 2
# etcd's data on tmpfs where there is one: on a busy machine with a slow disk, etcd's fsyncs
# stall the API server long enough for the nodes' heartbeats to lapse.
MEMORY_DIR = Path("/dev/shm")
# A hollow node is a process on this machine, not a host that can vanish: when a busy machine
# starves its kubelet for a while, the node must not be declared lost (which marks every pod
# on it unready and later evicts it), so the grace period is far longer than any test.
NODE_MONITOR_GRACE = "30m"


@dataclass(frozen=True)
class Cluster:
    """A running control plane: its kubeconfig and an admin client."""

    kubeconfig: Path
    client: KubeClient
    server: str
    directory: Path

    def env(self) -> dict[str, str]:
        """Environment variables that point a child process at this cluster."""
        return {"KUBECONFIG": str(self.kubeconfig)}


def binaries(environ: Mapping[str, str] | None = None) -> Path:
    """The directory of the built control plane (skip, or fail in CI, when there is none)."""
    environ = os.environ if environ is None else environ
    found: Path | None = None
    if environ.get(BINARIES_ENV):
        found = Path(environ[BINARIES_ENV])
    else:
        done = subprocess.run(
            [str(BUILD_SCRIPT), "--print"], capture_output=True, text=True, check=False
        )
        if done.returncode == 0 and done.stdout.strip():
            found = Path(done.stdout.strip())
    missing = [name for name in CONTROL_PLANE if found is None or not (found / name).is_file()]
    for tool in ("etcd", "openssl"):
        if shutil.which(tool) is None:
            missing.append(tool)
    if missing:
        message = (
            f"no Kubernetes control plane here (missing: {', '.join(missing)}); "
            "scripts/k8s/build.sh builds it (scripts/test runs it as root on Debian)"
        )
        if environ.get("CI") == "true":
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)
    assert found is not None
    return found


# kubemark's fake container runtime listens on a fixed path, /tmp/kubelet_remote.sock: two
# hollow nodes on one machine (or another test session's) would share one runtime, and each
# kubelet then kills the other's containers as strangers (pods crash-loop, go unready). Each
# hollow node therefore runs with a /tmp of its own, in a mount namespace of its own.
_PRIVATE_TMP = (
    "import os, subprocess, sys; "
    "subprocess.run(['mount', '--bind', sys.argv[1], '/tmp'], check=True); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def _can_isolate() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def _with_private_tmp(argv: list[str], private: Path) -> list[str]:
    return [
        "unshare", "--mount", "--propagation", "private",
        sys.executable, "-c", _PRIVATE_TMP, str(private), *argv,
    ]  # fmt: skip


def _kubeconfig(path: Path, server: str, token: str, ca: Path, *, embed: bool = False) -> None:
    authority = (
        {"certificate-authority-data": base64.b64encode(ca.read_bytes()).decode()}
        if embed  # for a process that cannot see the file (a private /tmp)
        else {"certificate-authority": str(ca)}
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, **authority}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    path.chmod(0o600)


@contextmanager
def _process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _alive(process: subprocess.Popen[bytes], log: Path) -> None:
    if process.poll() is not None:
        raise AssertionError(f"{process.args[0]} exited: {log.read_text(errors='replace')[-3000:]}")  # type: ignore[index]  # args is the argv list given above


def _ready(client: KubeClient) -> bool:
    try:
        client.request("GET", "/readyz")
    except KubernetesError:
        return False
    return True


def _nodes_ready(client: KubeClient) -> int:
    try:
        nodes = client.request("GET", "/api/v1/nodes").get("items") or []
    except KubernetesError:
        return 0
    ready = 0
    for node in nodes:
        conditions = (node.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready += 1
    return ready


@contextmanager
def control_plane(directory: Path, bin_dir: Path) -> Iterator[Cluster]:
    """Start the control plane in ``directory``; stop every process afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    certs = directory / "certs"
    certs.mkdir()
    sa_key, sa_pub = directory / "sa.key", directory / "sa.pub"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True
    )
    subprocess.run(
        ["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)],
        check=True,
        capture_output=True,
    )
    token = secrets.token_hex(16)
    tokens = directory / "tokens.csv"
    tokens.write_text(f'{token},admin,admin,"system:masters"\n', encoding="utf-8")
    ports = {name: free_port() for name in ("etcd", "peer", "api", "cm", "sched")}
    server = f"https://127.0.0.1:{ports['api']}"
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['peer']}"
    kubeconfig = directory / "kubeconfig"
    with ExitStack() as stack:
        memory = MEMORY_DIR if MEMORY_DIR.is_dir() and os.access(MEMORY_DIR, os.W_OK) else None
        etcd_data = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="pipelines-etcd-", dir=memory))
        )
        etcd_log = directory / "etcd.log"
        etcd = stack.enter_context(
            _process(
                [
                    "etcd",
                    "--name=default",
                    f"--data-dir={etcd_data}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls={peer_url}",
                    f"--initial-advertise-peer-urls={peer_url}",
                    f"--initial-cluster=default={peer_url}",
                    "--log-level=warn",
                ],
                etcd_log,
            )
        )
        api_log = directory / "kube-apiserver.log"
        api = stack.enter_context(
            _process(
                [
                    str(bin_dir / "kube-apiserver"),
                    f"--etcd-servers={etcd_url}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={ports['api']}",
                    "--insecure-port=0",
                    f"--cert-dir={certs}",
                    f"--token-auth-file={tokens}",
                    "--authorization-mode=Node,RBAC",
                    f"--service-account-key-file={sa_pub}",
                    f"--service-account-signing-key-file={sa_key}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--service-cluster-ip-range=10.250.0.0/24",
                    "--v=0",
                ],
                api_log,
            )
        )
        ca = certs / "apiserver.crt"
        wait_until(lambda: ca.is_file() or api.poll() is not None, 60, "the API server's cert")
        _alive(api, api_log)
        _kubeconfig(kubeconfig, server, token, ca)
        client = KubeClient(load_credentials(kubeconfig), timeout=30)
        stack.callback(client.close)
        wait_until(lambda: _ready(client) or api.poll() is not None, 120, "the API server")
        _alive(etcd, etcd_log)
        _alive(api, api_log)
        cm_log = directory / "kube-controller-manager.log"
        cm = stack.enter_context(
            _process(
                [
                    str(bin_dir / "kube-controller-manager"),
                    f"--kubeconfig={kubeconfig}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={ports['cm']}",
                    "--port=0",
                    f"--service-account-private-key-file={sa_key}",
                    f"--root-ca-file={ca}",
                    "--use-service-account-credentials=false",
                    f"--node-monitor-grace-period={NODE_MONITOR_GRACE}",
                    f"--pod-eviction-timeout={NODE_MONITOR_GRACE}",
                    "--v=0",
                ],
                cm_log,
            )
        )
        sched_log = directory / "kube-scheduler.log"
        sched = stack.enter_context(
            _process(
                [
                    str(bin_dir / "kube-scheduler"),
                    f"--kubeconfig={kubeconfig}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={ports['sched']}",
                    "--port=0",
                    "--v=0",
                ],
                sched_log,
            )
        )
        nodes = []
        count = HOLLOW_NODES if _can_isolate() else 1
        for index in range(count):
            log = directory / f"hollow-{index}.log"
            argv = [
                str(bin_dir / "kubemark"),
                "--morph=kubelet",
                f"--name=hollow-{index}",
                f"--kubelet-port={free_port()}",
                f"--kubelet-read-only-port={free_port()}",
                "--v=0",
            ]
            if _can_isolate():
                private = directory / f"hollow-{index}-tmp"
                private.mkdir()
                _kubeconfig(private / "kubeconfig", server, token, ca, embed=True)
                argv = _with_private_tmp([*argv, "--kubeconfig=/tmp/kubeconfig"], private)
            else:
                argv.append(f"--kubeconfig={kubeconfig}")
            process = stack.enter_context(_process(argv, log))
            nodes.append((process, log))
        deadline = time.monotonic() + 180
        while _nodes_ready(client) < count:
            for process, log in [(cm, cm_log), (sched, sched_log), *nodes]:
                _alive(process, log)
            if time.monotonic() > deadline:
                raise AssertionError("the hollow nodes were not Ready within 180 s")
            time.sleep(0.3)
        yield Cluster(kubeconfig, client, server, directory)


def describe(cluster: Cluster, namespace: str) -> str:
    """What the cluster says about its nodes and one namespace's pods, Deployments and events,
    with the tails of the component logs: printed beside a failing test, because what failed
    on a busy machine cannot be looked at afterwards."""
    client, lines = cluster.client, []
    try:
        for node in client.request("GET", "/api/v1/nodes").get("items") or []:
            ready: dict[str, Any] = next(
                (
                    c
                    for c in (node.get("status") or {}).get("conditions") or []
                    if c.get("type") == "Ready"
                ),
                {},
            )
            taints = [t.get("key") for t in (node.get("spec") or {}).get("taints") or []]
            lines.append(
                f"node {node['metadata']['name']}: Ready={ready.get('status')} "
                f"({ready.get('reason')}, heartbeat {ready.get('lastHeartbeatTime')}) "
                f"taints={taints}"
            )
        pods = client.request("GET", f"/api/v1/namespaces/{namespace}/pods").get("items") or []
        for pod in pods:
            status = pod.get("status") or {}
            conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
            deleting = " deleting" if pod["metadata"].get("deletionTimestamp") else ""
            lines.append(
                f"pod {pod['metadata']['name']}: {status.get('phase')}{deleting} on "
                f"{(pod.get('spec') or {}).get('nodeName')} conditions={conditions}"
            )
        for item in client.list("Deployment", namespace):
            lines.append(f"deployment {item['metadata']['name']}: {item.get('status')}")
        events = client.request("GET", f"/api/v1/namespaces/{namespace}/events").get("items")
        for event in (events or [])[-20:]:
            lines.append(
                f"event {event.get('lastTimestamp')} {event.get('reason')} "
                f"{(event.get('involvedObject') or {}).get('name')}: {event.get('message')}"
            )
    except KubernetesError as exc:
        lines.append(f"the API server did not answer: {exc}")
    for log in sorted(cluster.directory.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-8:]
        lines.append(f"--- {log.name} (last {len(tail)} lines)")
        lines.extend(tail)
    return "\n".join(lines)
