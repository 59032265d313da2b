"""The settings of a ``kind: kubernetes`` target (pipeline.yaml, under the target)."""

from enum import StrEnum
from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from pipelines.config.schema import Duration, Model, Text, default_duration, matching

KUBERNETES = "kubernetes"  # the target kind (deploy.targets[].kind)
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DnsLabel = Annotated[str, matching(DNS_LABEL, "a DNS label such as 'shop-staging'")]
# A label key: an optional DNS prefix and a name (the API server's own rule).
LABEL_KEY = r"([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LabelKey = Annotated[str, matching(LABEL_KEY, "a label key such as 'team' or 'example.com/team'")]
LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
LabelValue = Annotated[str, matching(LABEL_VALUE, "a label value (63 letters, digits, -_.)")]
GatewayRef = Annotated[
    str, matching(f"({DNS_LABEL}/)?{DNS_LABEL}", "a Gateway as 'name' or 'namespace/name'")
]


class Router(StrEnum):
    """How traffic is split between the stable and the new release."""

    GATEWAY_API = "gateway-api"  # an HTTPRoute's backendRefs weights
    REPLICAS = "replicas"  # the ratio of ready replicas behind one Service (coarse)
    ARGO_ROLLOUTS = "argo-rollouts"  # hand the rollout to an Argo Rollouts controller


class LeaseTime(Duration):
    """How long a controller's lease lasts without a renewal."""

    maximum: ClassVar[float] = 3600.0
    too_long: ClassVar[str] = "a lease may last (1 hour)"


class RolloutTime(Duration):
    """How long a deploy waits for the cluster (replicas available, a Rollout's phase)."""

    maximum: ClassVar[float] = 86400.0
    too_long: ClassVar[str] = "a deploy may wait for the cluster (1 day)"


class KubernetesSettings(Model, frozen=True):
    """Where in a cluster an environment runs and how its traffic is split."""

    namespace: DnsLabel = "default"
    # The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config) and its context.
    kubeconfig: Text | None = None
    context: Text | None = None
    router: Router = Router.GATEWAY_API
    # The cluster's Gateway the HTTPRoute attaches to (the gateway-api router needs one).
    gateway: GatewayRef | None = None
    hostnames: tuple[Text, ...] = ()
    service_port: Annotated[int, Meta(ge=1, le=65535)] = 80
    labels: dict[LabelKey, LabelValue] = msgspec.field(default_factory=dict)
    annotations: dict[LabelKey, Text] = msgspec.field(default_factory=dict)
    # Readiness and liveness probes on service.health_path. Off where no kubelet can reach
    # the pods (simulated nodes), and then readiness is the container's start.
    probes: bool = True
    lease_duration: LeaseTime = default_duration(LeaseTime, 15.0)
    ready_timeout: RolloutTime = default_duration(RolloutTime, 300.0)
    # The Argo Rollouts hand-off: how long a canary step pauses before the next weight.
    argo_step_pause: RolloutTime = default_duration(RolloutTime, 60.0)
