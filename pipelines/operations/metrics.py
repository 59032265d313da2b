"""Export a run's metrics (from its reports) to a node_exporter textfile and/or a Pushgateway."""

from __future__ import annotations

import time
from dataclasses import replace

from pipelines import codec
from pipelines.artifacts import manifests, read_manifest
from pipelines.audit import RunAudit
from pipelines.config.pipeline import PipelineConfig
from pipelines.errors import UsageError
from pipelines.gate.rules import REDECIDE, GateDecision
from pipelines.layout import GATE_DECISION, Layout
from pipelines.monitoring.metrics import (
    TEXTFILE_NAME,
    build_registry,
    from_reports,
    push,
    write_textfile,
)


def export_metrics(
    config: PipelineConfig,
    layout: Layout,
    env: str,
    *,
    textfile: str | None,
    pushgateway: str | None,
    job: str,
) -> list[str]:
    """Measure the last run from its reports and send it to the sinks; say what was done."""
    decision_path = layout.report(GATE_DECISION)
    if not decision_path.is_file():
        raise UsageError(
            f"{decision_path}: no gate decision to measure",
            hint="run the pipeline (or `pipelines gate`) first",
        )
    decision = codec.read(decision_path, GateDecision, hint=REDECIDE)  # decoded once, at the file
    runs = manifests(layout.artifacts)
    manifest = read_manifest(runs[-1]) if runs else None
    stages = manifest.stages if manifest else ()
    measured = from_reports(config.name, env, decision, stages, time.time())
    audit = manifest.audit if manifest else None
    if isinstance(audit, RunAudit) and audit.flags is not None:
        measured = replace(measured, audit_entries=audit.flags.entries)
    registry = build_registry(measured)
    done = []
    if textfile or not pushgateway:
        target = layout.project / textfile if textfile else layout.stage("metrics") / TEXTFILE_NAME
        done.append(f"wrote {write_textfile(registry, target)}")
    if pushgateway:
        push(registry, pushgateway, job, measured)
        done.append(f"pushed to {pushgateway} (job={job}, pipeline={config.name}, env={env})")
    return done
