"""The evidence every deploy, rollback and drill leaves in ``artifacts/<run-id>/``, each file
written atomically: what was deployed and on whose authority, what was measured, and the
monitoring in force."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines import atomic
from pipelines.config import Environment, PipelineConfig
from pipelines.deploy.controller import DeployReport
from pipelines.schema import to_builtins

MANIFEST = "deployment-manifest.json"
METRICS = "deployment-metrics.json"
MONITORING = "monitoring-config.json"


def _seconds(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 4)


def write_evidence(
    directory: Path,
    config: PipelineConfig,
    environment: Environment,
    report: DeployReport,
    *,
    action: str,
    approval: Mapping[str, Any],
    gate: Mapping[str, Any],
    targets: Mapping[str, str],
    audit_head: Mapping[str, Any] | None,
) -> Path:
    """Write the three evidence files; return the directory."""
    timeline = report.timeline
    manifest = {
        "action": action,
        "deploy": report.deploy,
        "pipeline": config.name,
        "env": environment.name,
        "version": report.release.version,
        "commit": report.release.commit,
        "release": report.release.to_dict(),
        "previous": report.previous.to_dict() if report.previous else None,
        "strategy": report.strategy,
        "targets": dict(targets),
        "approval": dict(approval),
        "gate_decision": dict(gate),
        "outcome": report.status.value,
        "reason": report.reason,
        "audit": dict(audit_head) if audit_head else None,
    }
    metrics = {
        "timeline": timeline.to_dict(),
        "durations": {
            "total": _seconds(timeline.started, timeline.finished),
            "time_to_detect": _seconds(timeline.started, timeline.decision),
            "detect_after_exposure": _seconds(timeline.exposed, timeline.decision),
            "decision_to_traffic_on_stable": _seconds(
                timeline.decision, timeline.traffic_on_stable
            ),
            "decision_to_cleanup": _seconds(timeline.decision, timeline.cleanup),
        },
        "steps": [step.to_dict() for step in report.steps],
        "traffic_switches_seconds": [round(s, 4) for s in report.switches],
        "analysis": [m.to_dict() for m in report.measurements],
    }
    deploy = environment.deploy
    monitoring = {
        "health_checks": [
            {"name": c.name, "kind": c.kind, "critical": c.critical, "timeout": c.timeout}
            for c in environment.health.checks
        ],
        "service": {
            "health_path": config.service.health_path,
            "probe_path": config.service.probe_path,
        },
        "analysis": {
            key: value
            # Seconds, not the duration as written: this file is read by programs.
            for key, value in {
                **to_builtins(deploy.analysis),
                "interval": float(deploy.analysis.interval),
            }.items()
            if value is not None
        },
        "auto_rollback": deploy.auto_rollback,
        "auto_rollback_flag": deploy.auto_rollback_flag,
        "endpoints": {
            key: value
            for key, value in to_builtins(config.monitoring).items()
            if value is not None and key != "config_dir"
        },
    }
    atomic.write_json(directory / MANIFEST, manifest)
    atomic.write_json(directory / METRICS, metrics)
    atomic.write_json(directory / MONITORING, monitoring)
    return directory
