"""``pipelines run``: plan, run with a runner, write the run's artifacts, summarise."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from pipelines import artifacts, atomic
from pipelines.cli.common import flags_path, project_config, project_dir, project_layout
from pipelines.cli.display import LiveStages, run_summary, show
from pipelines.cli.planning import project_plan
from pipelines.config import PipelineConfig
from pipelines.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, PipelineError, UsageError
from pipelines.flags.store import audit_log
from pipelines.gate_rules import GateDecision, Verdict
from pipelines.layout import DECISION, RESULT, Layout, logical
from pipelines.plan import Plan
from pipelines.runlock import run_lock
from pipelines.runners import RUNNERS, load_runner
from pipelines.runners.results import RunResult, RunStatus


def run(args: argparse.Namespace, out: Console) -> int:
    """Run the plan with a runner, write the run's artifacts, print a summary."""
    project = project_dir(args)
    config = project_config(args)
    the_plan: Plan = project_plan(args, args.env, config).select(args.stages)
    if args.runner not in RUNNERS:
        raise UsageError(
            f"unknown runner {args.runner!r}", hint="runners: " + ", ".join(sorted(RUNNERS))
        )
    layout = project_layout(args, config)
    runner = load_runner(args.runner)(project, layout=layout)
    identity = artifacts.RunIdentity.new(project, os.environ)
    with run_lock(layout.reports, f"{identity.run_id}, env {args.env}"):
        # Every selected stage's reports go before anything runs: an interrupted run must not
        # leave the last run's gate decision beside its own partial reports.
        for stage in the_plan.stages:
            for output in stage.outputs:
                atomic.remove_report(layout.report(output))
        if args.json:
            result = runner.run(the_plan, fail_fast=args.fail_fast)
        else:
            with LiveStages(out, [s.name for s in the_plan.stages]) as live:
                result = runner.run(the_plan, fail_fast=args.fail_fast, on_event=live.on_event)
        kept = tuple(path for stage in config.custom for path in stage.artifacts)
        target = _write_artifacts(
            layout, identity, the_plan, result, kept=kept, audit=_audit(args, config)
        )
    notes = [] if result.interrupted else _export_metrics(args, config, layout)
    if args.json:
        skipped = [{"name": name, "reason": reason} for name, reason in the_plan.skipped]
        print(
            json.dumps({**result.to_dict(), "skipped": skipped, "artifacts": str(target)}, indent=2)
        )
    else:
        table_notes = stage_notes(layout, result)
        for name, patterns in artifacts.unmatched(layout, result, kept).items():
            warning = "warning: artifacts matched no file: " + ", ".join(patterns)
            table_notes[name] = "; ".join(n for n in (table_notes.get(name), warning) if n)
        show(out, run_summary(result, table_notes))
        out.print(f"artifacts: {target}", highlight=False, markup=False)
        for name, reason in the_plan.skipped:
            out.print(f"{name}: not run in {args.env}: {reason}", highlight=False, markup=False)
        for note in notes:
            out.print(note, highlight=False, markup=False)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED


def _write_artifacts(
    layout: Layout,
    identity: artifacts.RunIdentity,
    the_plan: Plan,
    result: RunResult,
    *,
    kept: tuple[str, ...],
    audit: dict[str, Any],
) -> Path:
    try:
        return artifacts.write_run_artifacts(
            layout, identity, the_plan, result, kept=kept, audit=audit
        )
    except (NotADirectoryError, FileExistsError, PermissionError) as exc:
        raise UsageError(
            f"{exc.filename}: the run's artifacts cannot be written there ({exc.strerror})",
            hint=f"make {layout.artifacts} a writable directory (or pass --artifacts DIR)",
        ) from exc


def _audit(args: argparse.Namespace, config: PipelineConfig) -> dict[str, Any]:
    """The head of the flags audit log, recorded in the manifest so that a log rolled back
    or replaced later no longer matches this run's record."""
    path = flags_path(args, config)
    log = audit_log(path)
    if not log.path.exists():
        return {}
    head = log.verify().head
    return {"flags": {"log": str(log.path), **head.to_dict()}}


def _export_metrics(args: argparse.Namespace, config: PipelineConfig, layout: Layout) -> list[str]:
    """Send the run's metrics where pipeline.yaml says; a failed push is reported, and the
    run's own outcome stands."""
    settings = config.metrics
    if not (settings.textfile or settings.pushgateway):
        return []
    # Imported here: prometheus-client is not needed by runs that export nothing.
    from pipelines.cli.metrics_cmd import export

    try:
        return export(
            config,
            layout,
            args.env,
            textfile=settings.textfile,
            pushgateway=settings.pushgateway,
            job=settings.job,
        )
    except PipelineError as exc:
        return [f"metrics not exported: {exc.message}"]


def stage_notes(layout: Layout, result: RunResult) -> dict[str, str]:
    """Each stage's own summary line (from its result.json), e.g. scanners not checked."""
    notes: dict[str, str] = {}
    for stage in result.stages:
        path = layout.stage(stage.name) / RESULT
        if stage.status in (RunStatus.PASSED, RunStatus.FAILED) and path.is_file():
            try:
                summary = json.loads(path.read_text(encoding="utf-8")).get("summary")
            except (OSError, ValueError):
                continue
            if summary:
                notes[stage.name] = str(summary)
    path = layout.report(logical("gate", DECISION))
    if "gate" in {s.name for s in result.stages} and path.is_file():
        try:
            decision = GateDecision.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return notes
        warnings = [rule.name for rule in decision.rules if rule.verdict is Verdict.WARN]
        note = f"gate {decision.status.value}"
        if decision.reasons:
            note += ": " + "; ".join(decision.reasons)
        elif warnings:
            note += " (warnings: " + ", ".join(warnings) + ")"
        notes["gate"] = note
    return notes
