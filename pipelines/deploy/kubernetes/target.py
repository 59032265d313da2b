"""The ``kubernetes`` target: each release a Deployment, traffic split by the gateway-api
router (an HTTPRoute weighting the stable and canary Services) or the replicas router (one
Service over every release, weighted by ready replicas: coarse).

Instances are the strategies' names (``r2-0``, ``r2-1``); a Deployment records which of its
release's instances are live in an annotation, so every call is idempotent and a resumed
deploy repeats its step safely. Supervision is the cluster's: crashed pods are restarted.
Nothing here sends traffic to a pod: readiness is what the cluster reports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipelines.config.kubernetes import Router
from pipelines.deploy.kubernetes.client import KubeClient, KubernetesError
from pipelines.deploy.kubernetes.manifests import (
    LABEL_RELEASE,
    Obj,
    Scope,
    deployment,
    http_route,
    service,
)
from pipelines.deploy.target import Release, Running, TargetError

INSTANCES = "portable-pipelines.dev/instances"
POLL = 0.25


def release_of(instance: str) -> str:
    """``r2-1`` -> ``r2``."""
    return instance.rpartition("-")[0] or instance


class KubernetesTarget:
    """One environment in one namespace of one cluster."""

    def __init__(
        self,
        name: str,
        *,
        client: KubeClient,
        scope: Scope,
        ready_timeout: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name, self.client, self.scope = name, client, scope
        self.ready_timeout, self.sleep = ready_timeout, sleep
        self.router = scope.settings.router
        if self.router is Router.ARGO_ROLLOUTS:
            raise TargetError("the argo-rollouts router hands the deploy to Argo (argo.py)")

    # --- instances -----------------------------------------------------------------------

    def start(self, instance: str, release: Release) -> Running:
        """Add ``instance`` to its release's Deployment and wait until as many pods as live
        instances are available."""
        live = self._live(release.id) | {instance}
        self._apply_release(release.id, release.version, release.env, live)
        self._wait_available(release.id, len(live))
        return Running(instance, release.id, self._url())

    def stop(self, instance: str) -> None:
        """Remove ``instance``: one pod fewer; the Deployment goes with its last instance."""
        release = release_of(instance)
        current = self._deployment(release)
        if current is None:
            return
        live = self._live(release) - {instance}
        if not live:
            self.client.delete("Deployment", self.scope.namespace, current["metadata"]["name"])
            return
        labels = current["metadata"].get("labels") or {}
        version = str(labels.get("app.kubernetes.io/version") or "")
        template = current["spec"]["template"]["spec"]["containers"][0]
        env = {item["name"]: item.get("value", "") for item in template.get("env") or []}
        self._apply_release(release, version, env, live, image=str(template["image"]))

    def answers(self, instance: str, path: str) -> bool:
        """Whether ``instance`` counts among its release's available pods (the kubelet's
        probes on health_path decide; no request is sent from here to a pod). A release with
        one pod of two available has one instance that answers, not none."""
        del path
        return instance in self.running()

    def running(self) -> dict[str, Running]:
        """Every live instance whose release has its pods available."""
        found: dict[str, Running] = {}
        for item in self._deployments():
            release = str(item["metadata"]["labels"].get(LABEL_RELEASE, ""))
            live = sorted(_instances(item))
            available = int((item.get("status") or {}).get("availableReplicas") or 0)
            for name in live[:available]:
                found[name] = Running(name, release, self._url())
        return found

    # --- traffic -------------------------------------------------------------------------

    def route(self, weights: Mapping[str, int]) -> float:
        """Point the stable and canary Services at the releases and weight them."""
        began = time.monotonic()
        by_release: dict[str, int] = {}
        for instance, weight in weights.items():
            by_release[release_of(instance)] = by_release.get(release_of(instance), 0) + weight
        if not 1 <= len(by_release) <= 2:
            raise TargetError(f"cannot route to {len(by_release)} releases at once: {weights}")
        if self.router is Router.REPLICAS:
            self._route_by_replicas(by_release)
            return time.monotonic() - began
        stable = self._selected("stable")
        if len(by_release) == 1 or stable not in by_release:
            stable = min(by_release, key=_release_number)
        canary = next((r for r in by_release if r != stable), stable)
        # The Service that gains weight points at its release before the weights change, so
        # no request ever reaches a release outside ``weights``.
        self.client.apply(service(self.scope, "canary", canary))
        self.client.apply(service(self.scope, "stable", stable))
        canary_weight = by_release[canary] if canary != stable else 0
        self.client.apply(http_route(self.scope, by_release[stable], canary_weight))
        return time.monotonic() - began

    def routed(self) -> dict[str, int]:
        """The weights of the HTTPRoute (gateway-api) or the live instances (replicas)."""
        if self.router is Router.REPLICAS:
            return {name: 1 for name in self.running()}
        route = self.client.get("HTTPRoute", self.scope.namespace, self.scope.app)
        if route is None:
            return {}
        weights: dict[str, int] = {}
        for backend in route["spec"]["rules"][0]["backendRefs"]:
            role = str(backend["name"]).rpartition("-")[2]
            release = self._selected(role)
            if release and int(backend.get("weight", 1)) > 0:
                for name in self._live(release):
                    weights[name] = int(backend.get("weight", 1))
        return weights

    def entrypoint(self) -> str:
        """Where clients reach the service: the route's host, else the Service's DNS name."""
        if self.scope.settings.hostnames:
            return f"http://{self.scope.settings.hostnames[0]}"
        stable = self.scope.service_name("stable")
        return f"http://{stable}.{self.scope.namespace}.svc:{self.scope.settings.service_port}"

    def preview(self, instances: Sequence[str]) -> str:
        """No preview address here (an Argo Rollouts hand-off has its previewService)."""
        del instances
        return ""

    def shutdown(self) -> None:
        """Delete every object of this environment (tests and drills clean up with this)."""
        namespace = self.scope.namespace
        for item in self._deployments():
            self.client.delete("Deployment", namespace, item["metadata"]["name"])
        for role in ("stable", "canary"):
            self.client.delete("Service", namespace, self.scope.service_name(role))
        if self.router is Router.GATEWAY_API:
            try:
                self.client.delete("HTTPRoute", namespace, self.scope.app)
            except KubernetesError as exc:
                if exc.status != 404:  # no HTTPRoute kind in this cluster: nothing to delete
                    raise

    # --- helpers -------------------------------------------------------------------------

    def _apply_release(
        self,
        release: str,
        version: str,
        env: Mapping[str, str],
        live: set[str],
        image: str | None = None,
    ) -> None:
        body = deployment(self.scope, release, version, len(live), env)
        if image is not None:  # a stop keeps the image the pods run, whatever the config says
            body["spec"]["template"]["spec"]["containers"][0]["image"] = image
        body["metadata"].setdefault("annotations", {})[INSTANCES] = json.dumps(sorted(live))
        self.client.apply(body)

    def _route_by_replicas(self, by_release: dict[str, int]) -> None:
        # One Service over every release: traffic follows the ready pods the strategy runs,
        # so a weight is only the ratio of pods (coarse). A release weighted 0 must get
        # nothing, so its pods go at once.
        for release, weight in by_release.items():
            if weight == 0:
                for instance in sorted(self._live(release)):
                    self.stop(instance)
        self.client.apply(service(self.scope, "stable", None))

    def _wait_available(self, release: str, wanted: int) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            current = self._deployment(release)
            status: dict[str, Any] = (current or {}).get("status") or {}
            generation = int((current or {}).get("metadata", {}).get("generation") or 0)
            if (
                current is not None
                and int(status.get("observedGeneration") or 0) >= generation
                and int(status.get("availableReplicas") or 0) >= wanted
                and int(status.get("updatedReplicas") or 0) >= wanted
            ):
                return
            if time.monotonic() > deadline:
                raise TargetError(
                    f"Deployment {self.scope.deployment_name(release)} did not have {wanted} "
                    f"available replicas within {self.ready_timeout:g} s: {_conditions(status)}"
                )
            self.sleep(POLL)

    def _deployment(self, release: str) -> Obj | None:
        return self.client.get(
            "Deployment", self.scope.namespace, self.scope.deployment_name(release)
        )

    def _deployments(self) -> list[Obj]:
        selector = ",".join(f"{k}={v}" for k, v in self.scope.selector().items())
        return self.client.list("Deployment", self.scope.namespace, selector)

    def _live(self, release: str) -> set[str]:
        current = self._deployment(release)
        return set() if current is None else _instances(current)

    def _selected(self, role: str) -> str:
        found = self.client.get("Service", self.scope.namespace, self.scope.service_name(role))
        selector = ((found or {}).get("spec") or {}).get("selector") or {}
        return str(selector.get(LABEL_RELEASE, ""))

    def _url(self) -> str:
        return self.entrypoint()


def _instances(obj: Obj) -> set[str]:
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(INSTANCES, "[]")
    try:
        names = json.loads(text)
    except ValueError:
        return set()
    return {str(name) for name in names} if isinstance(names, list) else set()


def _release_number(release: str) -> int:
    digits = release.lstrip("r")
    return int(digits) if digits.isdigit() else 0


def _conditions(status: Mapping[str, Any]) -> str:
    found = [
        f"{c.get('type')}={c.get('status')} ({c.get('message', '')})"
        for c in status.get("conditions") or []
    ]
    return "; ".join(found) or "no conditions reported"
