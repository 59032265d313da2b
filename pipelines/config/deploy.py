"""How a project's service runs and how each environment deploys it (pipeline.yaml).

Every default lives in the declared types below; the JSON Schema is emitted from them.
"""

from enum import StrEnum
from pathlib import PurePosixPath
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from pipelines.config.kubernetes import KUBERNETES, KubernetesSettings
from pipelines.config.schema import (
    LOWER_NAME,
    Duration,
    EnvVarName,
    Invalid,
    LowerName,
    Model,
    ScalarText,
    Text,
    Url,
    default_duration,
    matching,
)


class StrategyKind(StrEnum):
    """How a new release replaces the running one."""

    ROLLING = "rolling"
    BLUE_GREEN = "blue-green"
    CANARY = "canary"


class Approval(StrEnum):
    """Whether a deploy needs someone's approval first."""

    NONE = "none"
    REQUIRED = "required"


class StepTime(Duration):
    """How long one deploy step (an analysis interval, holding the old pool) may take."""

    maximum: ClassVar[float] = 2 * 86400.0
    too_long: ClassVar[str] = "a deploy step may take (2 days)"


UrlPath = Annotated[str, matching(r"/\S*", "a path such as /healthz")]
FaultName = Annotated[str, matching(LOWER_NAME, "a fault name such as 'errors'")]
Address = Annotated[str, matching(r"[0-9.]+:\d{1,5}", "an address such as 127.0.0.1:18080")]
Argv = Annotated[tuple[Text, ...], Meta(min_length=1)]
Count = Annotated[int, Meta(ge=0, le=1000)]


class ServiceSettings(Model, frozen=True):
    """How one instance of the service runs. ``{port}`` and ``{version}`` are filled in.

    There is no default command or fault: each service says how it starts and how it is
    made to fail, and a deploy that needs them names the key that is missing."""

    unique_lists: ClassVar[tuple[str, ...]] = ("files", "exclude")

    command: Argv | None = None
    health_path: UrlPath = "/healthz"
    # The request smoke tests and probe traffic send (its answer must be 2xx).
    probe_path: UrlPath = "/"
    env: dict[EnvVarName, ScalarText] = {}
    # What a release keeps of the project (its backup on disk; a rollback never rebuilds).
    files: Argv = (".",)
    exclude: tuple[Text, ...] = (".git", ".venv", "reports", "artifacts")
    # The docker target: the image, and the port the service listens on inside it.
    image: Text | None = None
    container_port: Annotated[int, Meta(ge=1, le=65535)] = 8080
    start_timeout: Annotated[float, Meta(ge=0.1, le=3600)] = 20.0
    # How a drill makes a release faulty: fault name -> the variables that cause it.
    faults: dict[FaultName, dict[EnvVarName, ScalarText]] = {}

    def __post_init__(self) -> None:
        super().__post_init__()
        for index, entry in enumerate(self.files):
            # A release is a copy of the project: an entry leaving it would copy (or write)
            # elsewhere on the host.
            parts = PurePosixPath(entry).parts
            if entry.startswith("/") or ".." in parts or "\\" in entry:
                raise Invalid(
                    f"{entry!r} is not a path inside the project",
                    key=("files", index),
                    hint="list files and directories relative to the project ('.' is all of it)",
                )


class Threshold(Model, frozen=True):
    """A limit and the comparison that fails it: ``op`` is '>' or '>='."""

    value: Annotated[float, Meta(ge=0)]
    op: Literal[">", ">="]

    def exceeded(self, measured: float) -> bool:
        """True when ``measured`` breaks the limit."""
        return measured >= self.value if self.op == ">=" else measured > self.value


class AnalysisSettings(Model, frozen=True):
    """How a new release is measured against the stable one, and when that fails."""

    interval: StepTime = default_duration(StepTime, 5.0)  # per measurement
    count: Annotated[int, Meta(ge=1, le=1000)] = 1  # measurements per step
    # Probe requests per pool per measurement; fewer answered than min_requests: inconclusive.
    requests: Annotated[int, Meta(ge=1, le=100_000)] = 40
    min_requests: Annotated[int, Meta(ge=1, le=100_000)] = 10
    max_error_rate: Threshold | None = Threshold(5.0, ">")  # percent
    max_p95_ms: Threshold | None = Threshold(1000.0, ">")
    compare: bool = True  # Mann-Whitney U of the new release against the stable one
    alpha: Annotated[float, Meta(ge=0.0001, le=0.5)] = 0.01
    # A median latency may move this much (relative) and this much (absolute) unnoticed; the
    # error rate may rise this many percentage points.
    tolerance: Annotated[float, Meta(ge=0, le=10)] = 0.25
    latency_tolerance_ms: Annotated[float, Meta(ge=0, le=3_600_000)] = 20.0
    error_rate_tolerance: Annotated[float, Meta(ge=0, le=100)] = 1.0
    failure_limit: Count = 0
    inconclusive_limit: Count = 1
    error_limit: Count = 0
    prometheus: Url | None = None  # base URL; queries below are sent with {version}
    error_rate_query: Text | None = None
    latency_query: Text | None = None


class DeployTarget(Model, frozen=True):
    """One place (region) a release is deployed to: the runtime its instances run on
    (``kind``), the router in front of them and the address clients reach it on. Kinds and
    routers are the names in ``pipelines.deploy.registry``."""

    name: LowerName = "local"
    kind: LowerName = "local"
    router: LowerName = "nginx"
    listen: Address = "127.0.0.1:18080"
    # blue-green: where the new pool answers before the switch (the router's preview address)
    preview_listen: Address | None = None
    # kind: kubernetes only: the namespace, router, Gateway and cluster access.
    kubernetes: KubernetesSettings | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kubernetes is not None and self.kind != KUBERNETES:
            raise Invalid(
                f"target {self.name!r} has kubernetes settings but kind {self.kind!r}",
                key=("kubernetes",),
                hint="set kind: kubernetes, or remove the kubernetes settings",
            )
        if self.preview_listen is not None and self.preview_listen == self.listen:
            raise Invalid(
                f"target {self.name!r} previews on the address it serves on",
                key=("preview_listen",),
                hint="give the preview an address of its own",
            )
        if self.preview_listen is not None and self.kind == KUBERNETES:
            raise Invalid(
                f"target {self.name!r} is of kind kubernetes: its preview is the canary Service",
                key=("preview_listen",),
                hint="remove preview_listen",
            )
        if self.kind == KUBERNETES and self.router != "nginx":
            raise Invalid(
                f"target {self.name!r} is of kind kubernetes: its traffic is split by "
                "kubernetes.router, not router",
                key=("router",),
                hint="remove router and set kubernetes: {router: gateway-api} (or replicas, "
                "or argo-rollouts)",
            )

    @property
    def cluster(self) -> KubernetesSettings:
        """The kubernetes settings (their defaults when none are written)."""
        return self.kubernetes or KubernetesSettings()


class CanaryPause(Model, frozen=True):
    """A canary step that waits: ``{pause: 30s}`` for that long, ``{pause: null}`` until
    `pipelines promote`."""

    pause: StepTime | None = None


Weight = Annotated[float, Meta(ge=0.1, le=100)]


class DeploySettings(Model, frozen=True):
    """How an environment deploys."""

    unique_lists: ClassVar[tuple[str, ...]] = ("smoke",)

    strategy: StrategyKind = StrategyKind.ROLLING
    targets: Annotated[tuple[DeployTarget, ...], Meta(min_length=1)] = (DeployTarget(),)
    instances: Annotated[int, Meta(ge=1, le=64)] = 2
    # Release snapshots kept on disk (the stable one and a rollback's are always kept).
    keep_releases: Annotated[int, Meta(ge=2, le=1000)] = 5
    # canary traffic weights, rising to 100; a pause between them waits (or waits for promote)
    steps: Annotated[tuple[Weight | CanaryPause, ...], Meta(min_length=1)] = (
        10.0,
        25.0,
        50.0,
        100.0,
    )
    keep_old_for: StepTime = default_duration(
        StepTime, 30.0
    )  # blue-green: the old pool stays for a switch back
    pre_promotion_analysis: bool = True
    # blue-green: false waits for `pipelines promote` before the switch (after the analysis)
    auto_promote: bool = True
    # blue-green: analyse the new pool after the switch, while the old one is kept
    post_promotion_analysis: bool = False
    auto_rollback: bool = True
    auto_rollback_flag: Text | None = None  # a flag whose value here turns it on or off
    approval: Approval = Approval.NONE
    smoke: tuple[UrlPath, ...] = ()  # paths that must answer 2xx on the new release
    analysis: AnalysisSettings = msgspec.field(default_factory=AnalysisSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        names = [target.name for target in self.targets]
        if len(set(names)) != len(names):
            raise Invalid("two targets have the same name", key=("targets",))
        weights = self.weights()
        if not weights or weights != sorted(set(weights)) or weights[-1] != 100:
            raise Invalid(
                f"canary steps must rise and end at 100, got {weights}",
                key=("steps",),
                hint="for example steps: [10, 25, {pause: 30s}, 50, 100]",
            )
        if not isinstance(self.steps[-1], float):
            raise Invalid(
                "canary steps end at 100: a pause after all traffic moved waits for nothing",
                key=("steps",),
                hint="put the pause before the last weight",
            )

    def weights(self) -> list[float]:
        """The canary's traffic weights, without its pauses."""
        return [step for step in self.steps if isinstance(step, float)]
