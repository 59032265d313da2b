"""How a project's service runs and how each environment deploys it (pipeline.yaml).

Every default lives in the dataclasses below; the schema reads them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pipelines.schema import (
    Boolean,
    Choice,
    Duration,
    KeyPath,
    ListOf,
    MapOf,
    Number,
    Scalar,
    Source,
    Struct,
    Text,
    dataclass_defaults,
)


class StrategyKind(StrEnum):
    """How a new release replaces the running one."""

    ROLLING = "rolling"
    BLUE_GREEN = "blue-green"
    CANARY = "canary"


class TargetKind(StrEnum):
    """Where instances run."""

    LOCAL = "local"
    DOCKER = "docker"


class Approval(StrEnum):
    """Whether a deploy needs someone's approval first."""

    NONE = "none"
    REQUIRED = "required"


@dataclass(frozen=True)
class ServiceSettings:
    """How one instance of the service runs. ``{port}`` and ``{version}`` are filled in.

    There is no default command or fault: each service says how it starts and how it is
    made to fail, and a deploy that needs them names the key that is missing."""

    command: tuple[str, ...] | None = None
    health_path: str = "/healthz"
    # The request smoke tests and probe traffic send (its answer must be 2xx).
    probe_path: str = "/"
    env: Mapping[str, str] = field(default_factory=dict)
    # What a release keeps of the project (its backup on disk; a rollback never rebuilds).
    files: tuple[str, ...] = (".",)
    exclude: tuple[str, ...] = (".git", ".venv", "reports", "artifacts")
    # The docker target: the image, and the port the service listens on inside it.
    image: str | None = None
    container_port: int = 8080
    start_timeout: float = 20.0
    # How a drill makes a release faulty: fault name -> the variables that cause it.
    faults: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Threshold:
    """A limit and the comparison that fails it: ``op`` is '>' or '>='."""

    value: float
    op: str = ">"

    def exceeded(self, measured: float) -> bool:
        """True when ``measured`` breaks the limit."""
        return measured >= self.value if self.op == ">=" else measured > self.value


@dataclass(frozen=True)
class AnalysisSettings:
    """How a new release is measured against the stable one, and when that fails."""

    interval: float = 5.0  # seconds per measurement
    count: int = 1  # measurements per step
    requests: int = 40  # probe requests per pool per measurement
    min_requests: int = 10  # fewer answered requests: inconclusive
    max_error_rate: Threshold | None = field(default_factory=lambda: Threshold(5.0))  # percent
    max_p95_ms: Threshold | None = field(default_factory=lambda: Threshold(1000.0))
    compare: bool = True  # Mann-Whitney U of the new release against the stable one
    alpha: float = 0.01
    tolerance: float = 0.25  # a median latency may move this much (relative) unnoticed...
    latency_tolerance_ms: float = 20.0  # ...and this much (absolute)
    error_rate_tolerance: float = 1.0  # percentage points the error rate may rise unnoticed
    failure_limit: int = 0
    inconclusive_limit: int = 1
    error_limit: int = 0
    prometheus: str | None = None  # base URL; queries below are sent with {version}
    error_rate_query: str | None = None
    latency_query: str | None = None


@dataclass(frozen=True)
class DeployTarget:
    """One place (region) a release is deployed to: its kind and nginx's address."""

    name: str = "local"
    kind: TargetKind = TargetKind.LOCAL
    listen: str = "127.0.0.1:18080"


@dataclass(frozen=True)
class DeploySettings:
    """How an environment deploys."""

    strategy: StrategyKind = StrategyKind.ROLLING
    targets: tuple[DeployTarget, ...] = (DeployTarget(),)
    instances: int = 2
    steps: tuple[float, ...] = (10.0, 25.0, 50.0, 100.0)  # canary traffic weights
    keep_old_for: float = 30.0  # blue-green: seconds the old pool stays for a switch back
    pre_promotion_analysis: bool = True
    auto_rollback: bool = True
    auto_rollback_flag: str | None = None  # a flag whose value here turns it on or off
    approval: Approval = Approval.NONE
    smoke: tuple[str, ...] = ()  # paths that must answer 2xx on the new release
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)


MAX_STEP = timedelta(days=2)
THRESHOLD = Struct(
    {"value": Number(0), "op": Choice(">", ">=")},
    required=("value", "op"),
)
SERVICE = Struct(
    {
        "command": ListOf(Text(), min_items=1),
        "health_path": Text(r"/\S*", "a path such as /healthz"),
        "probe_path": Text(r"/\S*", "a path such as /"),
        "env": MapOf(Text(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name"), Scalar()),
        "files": ListOf(Text(), min_items=1, unique=True),
        "exclude": ListOf(Text(), unique=True),
        "image": Text(),
        "container_port": Number(1, 65535, integer=True),
        "start_timeout": Number(0.1, 3600),
        "faults": MapOf(
            Text(r"[a-z][a-z0-9_-]*", "a fault name such as 'errors'"),
            MapOf(Text(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name"), Scalar()),
        ),
    },
    defaults=dataclass_defaults(ServiceSettings),
)
ANALYSIS = Struct(
    {
        "interval": Duration(MAX_STEP, "an analysis interval may be (2 days)"),
        "count": Number(1, 1000, integer=True),
        "requests": Number(1, 100_000, integer=True),
        "min_requests": Number(1, 100_000, integer=True),
        "max_error_rate": THRESHOLD,
        "max_p95_ms": THRESHOLD,
        "compare": Boolean(),
        "alpha": Number(0.0001, 0.5),
        "tolerance": Number(0, 10),
        "latency_tolerance_ms": Number(0, 3_600_000),
        "error_rate_tolerance": Number(0, 100),
        "failure_limit": Number(0, 1000, integer=True),
        "inconclusive_limit": Number(0, 1000, integer=True),
        "error_limit": Number(0, 1000, integer=True),
        "prometheus": Text(r"https?://\S+", "the Prometheus base URL"),
        "error_rate_query": Text(),
        "latency_query": Text(),
    },
    defaults=dataclass_defaults(AnalysisSettings),
)
TARGET = Struct(
    {
        "name": Text(r"[a-z][a-z0-9_-]*", "a lower-case name such as 'eu-west'"),
        "kind": Choice(*TargetKind),
        "listen": Text(r"[0-9.]+:\d{1,5}", "an address such as 127.0.0.1:18080"),
    },
    defaults=dataclass_defaults(DeployTarget),
)
DEPLOY = Struct(
    {
        "strategy": Choice(*StrategyKind),
        "targets": ListOf(TARGET, min_items=1),
        "instances": Number(1, 64, integer=True),
        "steps": ListOf(Number(0.1, 100), min_items=1),
        "keep_old_for": Duration(MAX_STEP, "the old pool may be kept (2 days)"),
        "pre_promotion_analysis": Boolean(),
        "auto_rollback": Boolean(),
        "auto_rollback_flag": Text(),
        "approval": Choice(*Approval),
        "smoke": ListOf(Text(r"/\S*", "a path such as /"), unique=True),
        "analysis": ANALYSIS,
    },
    defaults=dataclass_defaults(DeploySettings),
)


def service_settings(raw: Mapping[str, Any]) -> ServiceSettings:
    """Build from validated YAML."""
    return ServiceSettings(**raw)


def deploy_settings(raw: Mapping[str, Any], source: Source, path: KeyPath) -> DeploySettings:
    """Build from validated YAML, checking what one key cannot check alone."""
    values = dict(raw)
    if "analysis" in values:
        analysis = dict(values["analysis"])
        for key in ("interval",):
            if key in analysis:
                analysis[key] = analysis[key].total_seconds()
        for key in ("max_error_rate", "max_p95_ms"):
            if key in analysis:
                analysis[key] = Threshold(**analysis[key])
        values["analysis"] = AnalysisSettings(**analysis)
    if "keep_old_for" in values:
        values["keep_old_for"] = values["keep_old_for"].total_seconds()
    if "targets" in values:
        targets = tuple(
            DeployTarget(**{**item, "kind": TargetKind(item.get("kind", "local"))})
            for item in values["targets"]
        )
        names = [target.name for target in targets]
        if len(set(names)) != len(names):
            raise source.error((*path, "targets"), "two targets have the same name")
        values["targets"] = targets
    if "steps" in values:
        steps = tuple(float(step) for step in values["steps"])
        if list(steps) != sorted(set(steps)) or steps[-1] != 100:
            raise source.error(
                (*path, "steps"),
                f"canary steps must rise and end at 100, got {list(steps)}",
                hint="for example steps: [10, 25, 50, 100]",
            )
        values["steps"] = steps
    for key, kind in (("strategy", StrategyKind), ("approval", Approval)):
        if key in values:
            values[key] = kind(values[key])
    return DeploySettings(**values)
