"""The run: load the config, plan, run the stages, summarise, write the run's reports, and
decide the exit status. Each step is a function of its own; ``run_pipeline`` lists them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pipelines import artifacts, codec, containment
from pipelines.audit import RecordedHead, RunAudit
from pipelines.codec import DamagedFile
from pipelines.config.cache import load_cached
from pipelines.config.pipeline import PipelineConfig
from pipelines.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, PipelineError, UsageError
from pipelines.flags.store import audit_log
from pipelines.gate.rules import GateDecision, Verdict
from pipelines.layout import GATE_DECISION, RESULT, Layout, project_directory
from pipelines.operations.planning import project_plan
from pipelines.plan import Plan, SkippedStage
from pipelines.runlock import run_lock
from pipelines.runners import RUNNERS, load_runner
from pipelines.runners.results import RunResult, RunStatus, StageRun

if TYPE_CHECKING:  # the Protocol's module imports anyio; a run loads it with its runner
    from pipelines.runners.base import Runner

OnEvent = Callable[[str, RunStatus], None]


@dataclass(frozen=True)
class RunRequest:
    """What to run: a project, one of its environments, where, and how."""

    project: Path = Path()
    env: str = "ci"
    config_file: Path | None = None  # default: the project's pipeline.yaml (defaults if none)
    stages: tuple[str, ...] = ()  # only these (and nothing they need is added); default: all
    runner: str = "local"
    fail_fast: bool = False
    reports: Path | None = None  # default: pipeline.yaml's `reports`, else PROJECT/reports
    artifacts: Path | None = None  # default: pipeline.yaml's `artifacts`, else PROJECT/artifacts
    flags_file: Path | None = None  # default: pipeline.yaml's `flags`


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to start: its config loaded, its plan made and its runner chosen."""

    request: RunRequest
    project: Path
    config: PipelineConfig
    layout: Layout
    plan: Plan
    runner: Runner


@dataclass(frozen=True)
class RunOutcome:
    """How a run went: every stage's result, the stages' own summaries, where its artifacts
    are, and what the metrics export did."""

    plan: Plan
    result: RunResult
    artifacts: Path
    notes: dict[str, str] = field(default_factory=dict)
    exported: tuple[str, ...] = ()

    @property
    def manifest(self) -> Path:
        """The run's manifest among its artifacts."""
        return self.artifacts / artifacts.MANIFEST

    @property
    def exit_code(self) -> int:
        """0 when every stage passed, 1 when one did not, 130 when interrupted."""
        if self.result.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.result.ok else EXIT_FAILED

    def report(self) -> RunReport:
        """What ``pipelines run --json`` prints."""
        result = self.result
        return RunReport(
            runner=result.runner,
            status=result.status,
            duration_seconds=round(result.duration, 3),
            stages=result.stages,
            skipped=self.plan.skipped,
            artifacts=str(self.artifacts),
        )


class RunReport(msgspec.Struct, frozen=True, kw_only=True):
    """A run as ``pipelines run --json`` prints it."""

    runner: str
    status: str  # passed, failed or interrupted
    duration_seconds: float
    stages: tuple[StageRun, ...]
    skipped: tuple[SkippedStage, ...]
    artifacts: str  # the run's directory among the artifacts


def run_pipeline(request: RunRequest, on_event: OnEvent | None = None) -> RunOutcome:
    """Run a project's pipeline and record it; ``on_event`` hears every stage's state."""
    return execute(prepare(request), on_event)


def prepare(request: RunRequest) -> PreparedRun:
    """Load the config, plan the environment and choose the runner: everything that can be
    refused before anything runs."""
    project = project_directory(request.project)
    # Checked once here; the stage processes decode what this load kept.
    config = load_cached(project, request.config_file, os.environ)
    the_plan = project_plan(
        project,
        config,
        request.env,
        config_file=request.config_file,
        flags_file=request.flags_file,
    ).select(request.stages)
    runner_class = choose_runner(request.runner)
    layout = Layout.chosen(
        project,
        configured=(config.reports_dir, config.artifacts_dir),
        reports=request.reports,
        artifacts=request.artifacts,
        source=config.source,
    )
    return PreparedRun(
        request, project, config, layout, the_plan, runner_class(project, layout=layout)
    )


def choose_runner(name: str) -> type[Runner]:
    """The runner registered as ``name``, or a usage error listing them."""
    if name not in RUNNERS:
        raise UsageError(f"unknown runner {name!r}", hint="runners: " + ", ".join(sorted(RUNNERS)))
    return load_runner(name)


def execute(prepared: PreparedRun, on_event: OnEvent | None = None) -> RunOutcome:
    """Run the prepared plan under the project's run lock, then summarise and record it."""
    request, layout, the_plan = prepared.request, prepared.layout, prepared.plan
    identity = artifacts.RunIdentity.new(prepared.project, os.environ)
    with run_lock(layout.reports, f"{identity.run_id}, env {request.env}"):
        remove_stale_reports(layout, the_plan)
        result = prepared.runner.run(the_plan, fail_fast=request.fail_fast, on_event=on_event)
        notes = summarise(layout, result)
        written = write_reports(prepared, identity, result)
        notes = with_unmatched_artifacts(prepared, result, notes)
        notes = with_refused_artifacts(written, notes)
    exported = () if result.interrupted else tuple(export_metrics(prepared))
    return RunOutcome(the_plan, result, written.directory, notes, exported)


def remove_stale_reports(layout: Layout, the_plan: Plan) -> None:
    """Remove every selected stage's reports before anything runs: an interrupted run must
    not leave the last run's gate decision beside its own partial reports."""
    for stage in the_plan.stages:
        for output in stage.outputs:
            containment.clear_report(*layout.located(output))


NOTE_LIMIT = 4 * 1024 * 1024  # a result.json or decision.json is a few kilobytes


class _Summary(msgspec.Struct):
    """The one field of a stage's result.json (``stages.base.StageResult``) a note needs."""

    summary: str = ""


def summarise(layout: Layout, result: RunResult) -> dict[str, str]:
    """Each stage's own summary line (from its result.json), e.g. scanners not checked, and
    the gate's decision in one line."""
    notes: dict[str, str] = {}
    for stage in result.stages:
        if stage.status not in (RunStatus.PASSED, RunStatus.FAILED):
            continue
        # Read without following a link a stage left (and bounded): a note, never a host file.
        data = containment.read_regular(layout.reports, f"{stage.name}/{RESULT}", limit=NOTE_LIMIT)
        if not data:
            continue
        try:
            summary = codec.decode(data, _Summary, stage.name).summary
        except DamagedFile:
            continue  # the stage's own outcome says what went wrong
        if summary:
            notes[stage.name] = summary
    data = containment.read_regular(*layout.located(GATE_DECISION), limit=NOTE_LIMIT)
    if "gate" in {s.name for s in result.stages} and data:
        try:
            decision = codec.decode(data, GateDecision, str(layout.report(GATE_DECISION)))
        except DamagedFile:
            return notes
        warnings = [rule.name for rule in decision.rules if rule.verdict is Verdict.WARN]
        note = f"gate {decision.status.value}"
        if decision.reasons:
            note += ": " + "; ".join(decision.reasons)
        elif warnings:
            note += " (warnings: " + ", ".join(warnings) + ")"
        notes["gate"] = note
    return notes


def with_unmatched_artifacts(
    prepared: PreparedRun, result: RunResult, notes: dict[str, str]
) -> dict[str, str]:
    """The notes with a warning for each stage whose kept artifact patterns matched no file."""
    kept = tuple(path for stage in prepared.config.custom for path in stage.artifacts)
    merged = dict(notes)
    for name, patterns in artifacts.unmatched(prepared.layout, result, kept).items():
        warning = "warning: artifacts matched no file: " + ", ".join(patterns)
        merged[name] = "; ".join(n for n in (merged.get(name), warning) if n)
    return merged


def with_refused_artifacts(written: artifacts.WrittenRun, notes: dict[str, str]) -> dict[str, str]:
    """The notes with a warning for each report not collected because it was not a plain
    file (a link a stage left)."""
    merged = dict(notes)
    for path, why in written.refused.items():
        stage = path.split("/")[1]
        warning = f"warning: {path} not collected ({why})"
        merged[stage] = "; ".join(n for n in (merged.get(stage), warning) if n)
    return merged


def write_reports(
    prepared: PreparedRun, identity: artifacts.RunIdentity, result: RunResult
) -> artifacts.WrittenRun:
    """Write the run's manifest and artifacts (with the flags audit log's head); return their
    directory and what was refused."""
    layout = prepared.layout
    kept = tuple(path for stage in prepared.config.custom for path in stage.artifacts)
    audit = audit_head(prepared.project / prepared.config.flags_file, prepared.request.flags_file)
    try:
        return artifacts.write_run_artifacts(
            layout, identity, prepared.plan, result, kept=kept, audit=audit
        )
    except (NotADirectoryError, FileExistsError, PermissionError) as exc:
        raise UsageError(
            f"{exc.filename}: the run's artifacts cannot be written there ({exc.strerror})",
            hint=f"make {layout.artifacts} a writable directory (or pass --artifacts DIR)",
        ) from exc


def audit_head(configured: Path, given: Path | None = None) -> RunAudit:
    """The head of the flags audit log, recorded in the manifest so that a log rolled back
    or replaced later no longer matches this run's record."""
    log = audit_log(given or configured)
    if not log.path.exists():
        return RunAudit()
    head = log.verify().head
    return RunAudit(flags=RecordedHead(head.entries, head.hash, str(log.path)))


def export_metrics(prepared: PreparedRun) -> list[str]:
    """Send the run's metrics where pipeline.yaml says; a failed push is reported, and the
    run's own outcome stands."""
    settings = prepared.config.metrics
    if not (settings.textfile or settings.pushgateway):
        return []
    # Imported here: prometheus-client is not needed by runs that export nothing.
    from pipelines.operations.metrics import export_metrics as export  # noqa: PLC0415

    try:
        return export(
            prepared.config,
            prepared.layout,
            prepared.request.env,
            textfile=settings.textfile,
            pushgateway=settings.pushgateway,
            job=settings.job,
        )
    except PipelineError as exc:
        return [f"metrics not exported: {exc.message}"]
