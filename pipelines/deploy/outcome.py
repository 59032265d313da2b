"""After a deploy, a rollback or a drill: the audit entry, the evidence files and the deploy
metrics (``deploy.metrics``: a textfile of every environment's series, and the Pushgateway),
so the alert rules on ``pipeline_last_deploy_success`` and
``pipeline_last_rollback_timestamp_seconds`` fire."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.artifacts import RunIdentity
from pipelines.deploy import metrics as deploy_series
from pipelines.deploy.controller import DeployReport
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.evidence import write_evidence
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.metrics import DeployGauges
from pipelines.deploy.records import ApprovalRecord, GateRecord
from pipelines.monitoring.metrics import RunMetrics, push, write_textfile

DEPLOY_TEXTFILE = "deploy_metrics.prom"


@dataclass(frozen=True)
class Recorded:
    """Where a deploy's outcome was written."""

    evidence: Path
    metrics: tuple[str, ...]


def deploy_metrics(pipeline: str, env: str, report: DeployReport) -> DeployGauges:
    """The deploy and rollback gauges of one outcome."""
    timeline = report.timeline
    rolled_back = report.rolled_back
    rollback_seconds = None
    if rolled_back and timeline.decision is not None and timeline.cleanup is not None:
        rollback_seconds = timeline.cleanup - timeline.decision
    return DeployGauges(
        pipeline=pipeline,
        env=env,
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
    """Audit, evidence and metrics of one outcome. A drill exports no metrics (its rollback
    must not page anyone), nor does a restore (neither a deploy nor a rollback). With
    ``audit_damage`` (an emergency went past a damaged audit log) nothing is appended to the
    log and the evidence points at the damage instead."""
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
    series, note = deploy_series.update(denv.directory.parent, measured, time.time())
    settings = denv.config.metrics
    if settings.textfile:
        path = (denv.project / settings.textfile).with_name(DEPLOY_TEXTFILE)
    else:
        path = denv.layout.stage("metrics") / DEPLOY_TEXTFILE
    everyone = deploy_series.registry(list(series.envs.values()))
    done = [f"wrote {write_textfile(everyone, path)}", *([note] if note else [])]
    if settings.pushgateway:
        # Their own group: a deploy must not replace the last run's metrics. The group is
        # this environment's, so only its series (with a rollback still in its window).
        mine = deploy_series.registry([series.envs[measured.env]])
        push(
            mine,
            settings.pushgateway,
            f"{settings.job}-deploy",
            RunMetrics(measured.pipeline, measured.env),
        )
        done.append(f"pushed to {settings.pushgateway}")
    return Recorded(evidence, tuple(done))
