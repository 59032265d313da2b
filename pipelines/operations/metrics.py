"""Export a run's metrics (from its reports) to a node_exporter textfile and/or a Pushgateway."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipelines.artifacts import manifests
from pipelines.config.pipeline import PipelineConfig
from pipelines.errors import UsageError
from pipelines.gate.rules import GateDecision
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
    data = _read_json(decision_path, "a gate decision")
    runs = manifests(layout.artifacts)
    manifest = _read_json(runs[-1], "a run manifest") if runs else {}
    try:
        decision = GateDecision.from_dict(data)  # decoded once, at the file
        measured = from_reports(config.name, env, decision, manifest.get("stages", []), time.time())
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{decision_path}: not a gate decision written by this tool ({exc!r})",
            hint="run the pipeline (or `pipelines gate`) again",
        ) from exc
    head = manifest.get("audit", {}).get("flags", {}).get("entries")
    if isinstance(head, int):
        measured = replace(measured, audit_entries=head)
    registry = build_registry(measured)
    done = []
    if textfile or not pushgateway:
        target = layout.project / textfile if textfile else layout.stage("metrics") / TEXTFILE_NAME
        done.append(f"wrote {write_textfile(registry, target)}")
    if pushgateway:
        push(registry, pushgateway, job, measured)
        done.append(f"pushed to {pushgateway} (job={job}, pipeline={config.name}, env={env})")
    return done


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object this tool wrote, or a clear error naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise UsageError(
            f"{path}: cannot be read as {what} ({exc})", hint="run the pipeline again"
        ) from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not {what}", hint="run the pipeline again")
    return data
