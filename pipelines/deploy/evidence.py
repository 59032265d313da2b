"""The evidence every deploy, rollback and drill leaves in ``artifacts/<run-id>/``, each file
written atomically: what was deployed and on whose authority, what was measured, and the
monitoring in force."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipelines import codec
from pipelines.config.pipeline import Environment, PipelineConfig
from pipelines.deploy.controller import DeployReport
from pipelines.deploy.records import (
    MANIFEST,
    METRICS,
    MONITORING,
    AnalysisRecord,
    ApprovalRecord,
    AuditHead,
    DeployManifest,
    DeployMetricsFile,
    Durations,
    EndpointsRecord,
    GateRecord,
    HealthCheckRecord,
    MonitoringConfig,
    ServicePaths,
)

__all__ = ["MANIFEST", "METRICS", "MONITORING", "write_evidence"]


def _seconds(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 4)


def write_evidence(
    directory: Path,
    config: PipelineConfig,
    environment: Environment,
    report: DeployReport,
    *,
    action: str,
    approval: ApprovalRecord | None,
    gate: GateRecord | None,
    targets: Mapping[str, str],
    audit_head: AuditHead | None,
    audit_damage: str = "",
) -> Path:
    """Write the three evidence files; return the directory."""
    timeline = report.timeline
    manifest = DeployManifest(
        action=action,
        deploy=report.deploy,
        pipeline=config.name,
        env=environment.name,
        version=report.release.version,
        commit=report.release.commit,
        release=report.release,
        previous=report.previous,
        strategy=report.strategy,
        targets=dict(targets),
        approval=approval,
        gate_decision=gate,
        outcome=report.status.value,
        reason=report.reason,
        audit=audit_head,
        audit_damage=audit_damage,
        dirty=report.release.dirty,
        tree=report.release.tree,
    )
    metrics = DeployMetricsFile(
        timeline=timeline,
        durations=Durations(
            total=_seconds(timeline.started, timeline.finished),
            time_to_detect=_seconds(timeline.started, timeline.decision),
            detect_after_exposure=_seconds(timeline.exposed, timeline.decision),
            decision_to_traffic_on_stable=_seconds(timeline.decision, timeline.traffic_on_stable),
            decision_to_cleanup=_seconds(timeline.decision, timeline.cleanup),
        ),
        steps=list(report.steps),
        traffic_switches_seconds=[round(s, 4) for s in report.switches],
        analysis=[m.summary() for m in report.measurements],
    )
    deploy = environment.deploy
    monitoring = MonitoringConfig(
        health_checks=[
            HealthCheckRecord(c.name, c.kind, c.critical, c.timeout)
            for c in environment.health.checks
        ],
        service=ServicePaths(config.service.health_path, config.service.probe_path),
        analysis=AnalysisRecord.of(deploy.analysis),
        auto_rollback=deploy.auto_rollback,
        auto_rollback_flag=deploy.auto_rollback_flag,
        endpoints=EndpointsRecord.of(config.monitoring),
    )
    codec.write(directory / MANIFEST, manifest)
    codec.write(directory / METRICS, metrics)
    codec.write(directory / MONITORING, monitoring)
    return directory
