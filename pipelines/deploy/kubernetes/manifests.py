"""Pure: the Kubernetes objects of one environment's releases, computed from pipeline.yaml.

Each release is a Deployment of ``service.image``; two Services (stable and canary) select a
release each; the gateway-api router weights them in an HTTPRoute. Names and labels tie every
object to its project, environment and release, so another process finds them again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.config.deploy import ServiceSettings
from pipelines.config.kubernetes import KubernetesSettings
from pipelines.errors import UsageError

Obj = dict[str, Any]
MANAGED_BY = "portable-pipelines"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_ENV = "portable-pipelines.dev/environment"
LABEL_RELEASE = "portable-pipelines.dev/release"
GATEWAY_API = "gateway.networking.k8s.io/v1"
# A rollback drill's HTTPRoute matches only requests with this header (its value: the drill
# environment's name), so the Gateway never gives a drill's releases anyone else's traffic.
DRILL_HEADER = "X-Pipelines-Drill"
CONTAINER = "service"


def dns_label(text: str, limit: int = 40) -> str:
    """``text`` as a DNS label of at most ``limit`` characters (a hash keeps cut names apart)."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "service"
    if len(label) <= limit:
        return label
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return label[: limit - 7].rstrip("-") + "-" + digest


def label_value(text: str) -> str:
    """``text`` as a label value (63 characters of [A-Za-z0-9-_.], alphanumeric ends)."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return value.strip("-_.")


@dataclass(frozen=True)
class Scope:
    """One environment of one project in one namespace: what every object's name derives from."""

    project: str
    environment: str
    settings: KubernetesSettings
    service: ServiceSettings
    env: Mapping[str, str] = field(default_factory=dict)  # the environment's variables
    drill: bool = False  # a rollback drill's objects: its route takes only drill traffic

    @property
    def namespace(self) -> str:
        """Where the objects live."""
        return self.settings.namespace

    @property
    def app(self) -> str:
        """The base name of every object: ``<project>-<environment>``."""
        return dns_label(f"{self.project}-{self.environment}")

    def deployment_name(self, release: str) -> str:
        """The Deployment of one release."""
        return f"{self.app}-{dns_label(release, 16)}"

    def service_name(self, role: str) -> str:
        """The stable or canary Service."""
        return f"{self.app}-{role}"

    def selector(self) -> dict[str, str]:
        """The labels every object of this environment carries."""
        return {LABEL_NAME: self.app, LABEL_MANAGED: MANAGED_BY, LABEL_ENV: self.environment}

    def metadata(self, name: str, extra: Mapping[str, str] | None = None) -> Obj:
        """Name, namespace, labels (ours and the configured ones) and annotations."""
        labels = {**self.settings.labels, **self.selector(), **(extra or {})}
        meta: Obj = {"name": name, "namespace": self.namespace, "labels": labels}
        if self.settings.annotations:
            meta["annotations"] = dict(self.settings.annotations)
        return meta

    def image(self, version: str) -> str:
        """``service.image`` with ``{version}`` filled in."""
        if self.service.image is None:
            raise UsageError(
                "the kubernetes target needs service.image in pipeline.yaml",
                hint="for example service: {image: 'registry.example.com/shop:{version}'}",
            )
        return self.service.image.replace("{version}", version)


def pod_template(scope: Scope, release: str, version: str, env: Mapping[str, str]) -> Obj:
    """The pod of one release: its image, variables, port and (when enabled) probes."""
    port = scope.service.container_port
    values = {"port": str(port), "version": version}
    filled = {key: _fill(value, values) for key, value in scope.service.env.items()}
    # Plain strings: config values are str subclasses that a YAML dump would not represent.
    variables = {str(k): str(v) for k, v in {**scope.env, **filled, **env}.items()}
    variables["PORT"] = str(port)
    container: Obj = {
        "name": CONTAINER,
        "image": scope.image(version),
        "ports": [{"name": "http", "containerPort": port}],
        "env": [{"name": key, "value": value} for key, value in sorted(variables.items())],
    }
    if scope.settings.probes:
        probe = {"httpGet": {"path": scope.service.health_path, "port": "http"}}
        container["readinessProbe"] = {**probe, "periodSeconds": 5, "failureThreshold": 3}
        container["livenessProbe"] = {**probe, "periodSeconds": 10, "failureThreshold": 6}
    labels = {**scope.selector(), LABEL_RELEASE: release, LABEL_VERSION: label_value(version)}
    return {"metadata": {"labels": labels}, "spec": {"containers": [container]}}


def deployment(
    scope: Scope, release: str, version: str, replicas: int, env: Mapping[str, str] | None = None
) -> Obj:
    """The Deployment of one release with ``replicas`` pods."""
    template = pod_template(scope, release, version, env or {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": scope.metadata(
            scope.deployment_name(release),
            {LABEL_RELEASE: release, LABEL_VERSION: label_value(version)},
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {**scope.selector(), LABEL_RELEASE: release}},
            # One new pod at a time, none taken away before its successor is ready.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": template,
        },
    }


def service(scope: Scope, role: str, release: str | None) -> Obj:
    """The ``stable`` or ``canary`` Service: it selects one release (or, for ``None``, every
    release, which is how the replicas router splits traffic by replica count)."""
    selector = {**scope.selector()}
    if release is not None:
        selector[LABEL_RELEASE] = release
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": scope.metadata(scope.service_name(role), {"portable-pipelines.dev/role": role}),
        "spec": {
            "selector": selector,
            "ports": [
                {
                    "name": "http",
                    "port": scope.settings.service_port,
                    "targetPort": "http",
                    "protocol": "TCP",
                }
            ],
        },
    }


def gateway_parent(scope: Scope) -> Obj:
    """The HTTPRoute's parent: the cluster's Gateway named in the config."""
    gateway = scope.settings.gateway
    if gateway is None:
        raise UsageError(
            f"the gateway-api router of environment {scope.environment!r} needs the "
            "cluster's Gateway: set the target's kubernetes.gateway",
            hint="for example kubernetes: {gateway: infra/public}, or router: replicas",
        )
    namespace, _, name = gateway.rpartition("/")
    parent: Obj = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}
    if namespace:
        parent["namespace"] = namespace
    return parent


def http_route(scope: Scope, stable_weight: int, canary_weight: int) -> Obj:
    """The HTTPRoute splitting traffic between the stable and canary Services by weight."""
    match: Obj = {"path": {"type": "PathPrefix", "value": "/"}}
    if scope.drill:
        match["headers"] = [{"type": "Exact", "name": DRILL_HEADER, "value": scope.environment}]
    spec: Obj = {
        "parentRefs": [gateway_parent(scope)],
        "rules": [
            {
                "matches": [match],
                "backendRefs": [
                    _backend(scope, "stable", stable_weight),
                    _backend(scope, "canary", canary_weight),
                ],
            }
        ],
    }
    if scope.settings.hostnames:
        spec["hostnames"] = list(scope.settings.hostnames)
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": scope.metadata(scope.app),
        "spec": spec,
    }


def _backend(scope: Scope, role: str, weight: int) -> Obj:
    # No "group": the Gateway API's default ("", the core group) is what a Service needs.
    return {
        "kind": "Service",
        "name": scope.service_name(role),
        "port": scope.settings.service_port,
        "weight": weight,
    }


def _fill(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
