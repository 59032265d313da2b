"""The files a deploy, rollback or drill leaves in ``artifacts/<run-id>/``, declared once and
shared by the writer (``evidence``, ``drill``) and every reader (``report.history``,
``report.dora``, ``report.compliance``). Fields added later have defaults, so files written
by earlier versions still decode; a file that does not decode is named, never guessed at."""

from __future__ import annotations

import msgspec

from pipelines.config.deploy import AnalysisSettings, Threshold
from pipelines.config.pipeline import MonitoringSettings
from pipelines.config.schema import to_builtins
from pipelines.deploy.analysis import MeasurementSummary
from pipelines.deploy.steps import Step, describe
from pipelines.deploy.target import Release

MANIFEST = "deployment-manifest.json"
METRICS = "deployment-metrics.json"
MONITORING = "monitoring-config.json"
DRILL_REPORT = "drill-report.json"


class Timeline(msgspec.Struct, kw_only=True):
    """When a deploy went wrong and how fast it recovered (seconds since the epoch)."""

    started: float = 0.0
    exposed: float | None = None  # the new release first got user traffic
    fault_seen: float | None = None
    decision: float | None = None
    traffic_on_stable: float | None = None
    cleanup: float | None = None
    finished: float | None = None


class StepRecord(msgspec.Struct, frozen=True):
    """A step as it ran (the evidence's list of steps)."""

    target: str
    step: Step
    seconds: float
    ok: bool
    detail: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "seconds", round(self.seconds, 4))
        if not self.description:  # computed once, kept in the file for people
            msgspec.structs.force_setattr(self, "description", describe(self.step))


class ApprovalRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Who approved a deploy. ``required`` None: no approval was asked for (a rollback, a
    promotion) or the file predates it."""

    required: bool | None = None
    by: str | None = None
    via: str | None = None  # "ci" or "terminal"
    run: str | None = None  # the CI run that carried the approval


class GateRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The gate decision a deploy went out under, and the release it was bound to."""

    forced: bool = False
    reason: str = ""  # why it was forced
    path: str = ""
    run_id: str | None = None
    status: str = ""
    # What the decision judged (empty in files from before the binding was recorded).
    commit: str = ""
    tree: str = ""
    dirty: bool | None = None


class AuditHead(msgspec.Struct, frozen=True):
    """The audit log's head after the entry a deploy wrote."""

    path: str = ""
    seq: int | None = None
    hash: str | None = None


class DeployManifest(msgspec.Struct, frozen=True, kw_only=True):
    """deployment-manifest.json: what was deployed and on whose authority."""

    action: str  # deploy, resume, promote, rollback, drill, ...
    deploy: str = ""
    pipeline: str = ""
    env: str
    version: str
    commit: str = "unknown"
    release: Release | None = None
    previous: Release | None = None
    strategy: str = ""
    targets: dict[str, str] = {}
    approval: ApprovalRecord | None = None
    gate_decision: GateRecord | None = None
    outcome: str
    reason: str = ""
    audit: AuditHead | None = None
    # Why no audit entry was written: the log's damage an emergency rollback went past.
    audit_damage: str = ""
    # The release's tree differs from what its commit holds (uncommitted changes).
    dirty: bool | None = None
    tree: str = ""


class Durations(msgspec.Struct, frozen=True, kw_only=True):
    """The timeline's intervals, in seconds."""

    total: float | None = None
    time_to_detect: float | None = None
    detect_after_exposure: float | None = None
    decision_to_traffic_on_stable: float | None = None
    decision_to_cleanup: float | None = None


class DeployMetricsFile(msgspec.Struct, frozen=True, kw_only=True):
    """deployment-metrics.json: what was measured."""

    timeline: Timeline = msgspec.field(default_factory=Timeline)
    durations: Durations = msgspec.field(default_factory=Durations)
    steps: list[StepRecord] = []
    traffic_switches_seconds: list[float] = []
    analysis: list[MeasurementSummary] = []


class HealthCheckRecord(msgspec.Struct, frozen=True):
    """One health check in force."""

    name: str
    kind: str
    critical: bool
    timeout: float


class ServicePaths(msgspec.Struct, frozen=True):
    """Where the service answers health checks and probe traffic."""

    health_path: str
    probe_path: str


class AnalysisRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The analysis settings in force (``deploy.analysis``), for programs: the interval in
    seconds, and a setting left unset (a limit, a URL, a query) not written."""

    interval: float
    count: int
    requests: int
    min_requests: int
    max_error_rate: Threshold | None = None
    max_p95_ms: Threshold | None = None
    compare: bool
    alpha: float
    tolerance: float
    latency_tolerance_ms: float
    error_rate_tolerance: float
    failure_limit: int
    inconclusive_limit: int
    error_limit: int
    prometheus: str | None = None
    error_rate_query: str | None = None
    latency_query: str | None = None

    @classmethod
    def of(cls, settings: AnalysisSettings) -> AnalysisRecord:
        """The record of ``settings``."""
        as_written = {**to_builtins(settings), "interval": float(settings.interval)}
        return msgspec.convert(as_written, cls)


class EndpointsRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where the monitoring stack answered (``monitoring``, without its config directory);
    an endpoint not configured is not written."""

    prometheus: str | None = None
    alertmanager: str | None = None
    pushgateway: str | None = None
    grafana: str | None = None

    @classmethod
    def of(cls, settings: MonitoringSettings) -> EndpointsRecord:
        """The record of ``settings``."""
        return cls(
            prometheus=settings.prometheus,
            alertmanager=settings.alertmanager,
            pushgateway=settings.pushgateway,
            grafana=settings.grafana,
        )


class MonitoringConfig(msgspec.Struct, frozen=True, kw_only=True):
    """monitoring-config.json: the monitoring in force when the deploy ran."""

    health_checks: list[HealthCheckRecord] = []
    service: ServicePaths | None = None
    analysis: AnalysisRecord | None = None  # None in files from before it was kept
    auto_rollback: bool = True
    auto_rollback_flag: str | None = None
    endpoints: EndpointsRecord = EndpointsRecord()


class ClientsSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a drill's clients saw."""

    sent: int = 0
    failed: int = 0
    failed_injected: int = 0
    lost: int = 0
    # Lost requests by cause: timeouts, resets, the router's own 502/503/504, other.
    lost_by_cause: dict[str, int] = {}
    by_version: dict[str, int] = {}


class DrillReportFile(msgspec.Struct, frozen=True, kw_only=True):
    """drill-report.json: a drill's measurements and verdict."""

    env: str
    strategy: str
    fault: str
    sla_seconds: float
    passed: bool
    problems: list[str] = []
    time_to_detect_seconds: float | None = None
    time_to_rollback_seconds: float | None = None
    detect_and_rollback_seconds: float | None = None
    outcome: str | None = None
    reason: str = ""
    timeline: Timeline | None = None
    clients: ClientsSummary = msgspec.field(default_factory=ClientsSummary)
    # False when no client load was sent (--rate 0): lost requests were not measured.
    clients_measured: bool = True
    final_versions: list[str] = []
