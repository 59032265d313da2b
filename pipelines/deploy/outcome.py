"""After a deploy, a rollback or a drill: the audit entry, the evidence files and the deploy
metrics (textfile and Pushgateway, as the pipeline's own metrics), so the alert rules on
``pipeline_last_deploy_success`` and ``pipeline_last_rollback_timestamp_seconds`` fire."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.artifacts import RunIdentity
from pipelines.deploy.controller import DeployReport
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.evidence import write_evidence
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.records import ApprovalRecord, GateRecord
from pipelines.monitoring.metrics import RunMetrics, build_registry, push, write_textfile

DEPLOY_TEXTFILE = "deploy_metrics.prom"


@dataclass(frozen=True)
class Recorded:
    """Where a deploy's outcome was written."""

    evidence: Path
    metrics: tuple[str, ...]


def deploy_metrics(pipeline: str, env: str, report: DeployReport) -> RunMetrics:
    """The deploy and rollback gauges of one outcome."""
    timeline = report.timeline
    rolled_back = report.rolled_back
    rollback_seconds = None
    if rolled_back and timeline.decision is not None and timeline.cleanup is not None:
        rollback_seconds = timeline.cleanup - timeline.decision
    return RunMetrics(
        pipeline,
        env,
        deploy_seconds=(timeline.finished or timeline.started) - timeline.started,
        deploy_succeeded=report.status is DeployStatus.SUCCEEDED,
        rollback_seconds=rollback_seconds,
        rollback_at=timeline.cleanup if rolled_back else None,
        finished_at=timeline.finished,
    )


def record(
    denv: DeployEnv,
    report: DeployReport,
    *,
    action: str,
    approval: ApprovalRecord | None,
    gate: GateRecord | None,
    extra: Mapping[str, Any] | None = None,
    export_metrics: bool = True,
    audit_damage: str = "",
) -> Recorded:
    """Audit, evidence and metrics of one outcome (a drill exports none: its rollback must
    not page anyone). With ``audit_damage`` (an emergency went past a damaged audit log)
    nothing is appended to the log and the evidence points at the damage instead."""
    head = None
    if not audit_damage:
        head = denv.audit(
            f"{action}-finished",
            deploy=report.deploy,
            release=report.release.id,
            version=report.release.version,
            outcome=report.status.value,
            reason=report.reason,
            **dict(extra or {}),
        )
    identity = RunIdentity.new(denv.project, denv.environ)
    evidence = write_evidence(
        denv.layout.artifacts / identity.run_id,
        denv.config,
        denv.environment,
        report,
        action=action,
        approval=approval,
        gate=gate,
        targets={t.name: t.listen for t in denv.environment.deploy.targets},
        audit_head=head,
        audit_damage=audit_damage,
    )
    if not export_metrics:
        return Recorded(evidence, ())
    measured = deploy_metrics(denv.config.name, denv.environment.name, report)
    registry = build_registry(measured)
    settings = denv.config.metrics
    if settings.textfile:
        path = (denv.project / settings.textfile).with_name(DEPLOY_TEXTFILE)
    else:
        path = denv.layout.stage("metrics") / DEPLOY_TEXTFILE
    done = [f"wrote {write_textfile(registry, path)}"]
    if settings.pushgateway:
        # Their own group: a deploy must not replace the last run's metrics.
        push(registry, settings.pushgateway, f"{settings.job}-deploy", measured)
        done.append(f"pushed to {settings.pushgateway}")
    return Recorded(evidence, tuple(done))
