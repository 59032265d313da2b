"""What the artifacts directory remembers: every run and every deploy, rollback and drill,
decoded once at the file boundary into typed records (a file that cannot be read is named in
``problems``, never guessed at)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipelines import codec
from pipelines.artifacts import MANIFEST, read_manifest
from pipelines.codec import DamagedFile
from pipelines.deploy.records import (
    DRILL_REPORT,
    DeployManifest,
    DeployMetricsFile,
    DrillReportFile,
    Timeline,
)
from pipelines.deploy.records import MANIFEST as MANIFEST_FILE
from pipelines.deploy.records import METRICS as METRICS_FILE
from pipelines.gate.rules import REDECIDE, GateDecision
from pipelines.layout import DECISION_ARTIFACT

DEPLOY_MANIFEST = MANIFEST_FILE
DEPLOY_METRICS = METRICS_FILE
RUN_ID = re.compile(r"(\d{8}T\d{6})(\d{3})?Z-")


@dataclass(frozen=True)
class StageTiming:
    """A stage of a run: when it started (seconds after the run started) and how long."""

    name: str
    status: str
    started: float | None
    duration: float


@dataclass(frozen=True)
class RunRecord:
    """One `pipelines run`."""

    run_id: str
    directory: Path
    env: str
    commit: str
    when: datetime
    status: str
    duration: float
    stages: tuple[StageTiming, ...]
    decision: GateDecision | None

    @property
    def pass_rate(self) -> float | None:
        """Percent of executed tests that passed."""
        tests = self.decision.evidence.tests if self.decision else None
        return tests.pass_rate if tests else None

    @property
    def flaky(self) -> int | None:
        """Tests that passed on a rerun."""
        tests = self.decision.evidence.tests if self.decision else None
        return tests.flaky if tests else None

    @property
    def coverage(self) -> float | None:
        """Line coverage, percent."""
        coverage = self.decision.evidence.coverage if self.decision else None
        return coverage.percent("line") if coverage else None


@dataclass(frozen=True)
class DeployEntry:
    """One deploy, rollback, promotion or drill, with its evidence."""

    run_id: str
    directory: Path
    action: str
    env: str
    version: str
    commit: str
    outcome: str
    reason: str
    when: datetime
    manifest: DeployManifest
    metrics: DeployMetricsFile
    drill: DrillReportFile | None

    @property
    def timeline(self) -> Timeline:
        """started, exposed, fault_seen, decision, traffic_on_stable, cleanup, finished."""
        return self.metrics.timeline

    @property
    def rolled_back(self) -> bool:
        """Traffic went back to the previous release."""
        return self.outcome == "rolled-back"


@dataclass
class History:
    """Everything in an artifacts directory, oldest first."""

    runs: list[RunRecord] = field(default_factory=list)
    deploys: list[DeployEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def run(self, run_id: str | None) -> RunRecord | None:
        """The named run, or the newest."""
        if run_id is None:
            return self.runs[-1] if self.runs else None
        return next((r for r in self.runs if r.run_id == run_id), None)

    def since(self, moment: datetime) -> History:
        """Only what happened at or after ``moment``."""
        return History(
            [r for r in self.runs if r.when >= moment],
            [d for d in self.deploys if d.when >= moment],
            list(self.problems),
        )


def when_of(run_id: str, fallback: str | None = None) -> datetime:
    """The moment a run id names (``20261129T111411123Z-...``), else ``fallback`` (ISO)."""
    match = RUN_ID.match(run_id)
    if match:
        moment = datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return moment.replace(microsecond=int(match[2] or 0) * 1000)
    if fallback:
        moment = datetime.fromisoformat(fallback)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ValueError(f"{run_id!r} is not a run id")


def read_history(artifacts: Path) -> History:
    """Decode every run directory under ``artifacts``."""
    history = History()
    if not artifacts.is_dir():
        return history
    for directory in sorted(p for p in artifacts.iterdir() if p.is_dir()):
        try:
            if (directory / MANIFEST).is_file():
                history.runs.append(_run(directory))
            elif (directory / DEPLOY_MANIFEST).is_file():
                history.deploys.append(_deploy(directory))
        except DamagedFile as exc:
            history.problems.append(exc.message)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            history.problems.append(f"{directory}: cannot be read ({exc})")
    history.runs.sort(key=lambda r: r.when)
    history.deploys.sort(key=lambda d: d.when)
    return history


def _run(directory: Path) -> RunRecord:
    manifest = read_manifest(directory / MANIFEST)
    decision = None
    if (directory / DECISION_ARTIFACT).is_file():
        decision = codec.read(directory / DECISION_ARTIFACT, GateDecision, hint=REDECIDE)
    stages = tuple(
        StageTiming(stage.name, stage.status.value, stage.started, stage.duration)
        for stage in manifest.stages
    )
    return RunRecord(
        manifest.run_id,
        directory,
        manifest.env,
        manifest.commit,
        when_of(manifest.run_id, manifest.timestamp),
        manifest.status,
        manifest.duration_seconds,
        stages,
        decision,
    )


def _deploy(directory: Path) -> DeployEntry:
    manifest = codec.read(directory / DEPLOY_MANIFEST, DeployManifest)
    metrics = DeployMetricsFile()
    if (directory / DEPLOY_METRICS).is_file():
        metrics = codec.read(directory / DEPLOY_METRICS, DeployMetricsFile)
    drill = None
    if (directory / DRILL_REPORT).is_file():
        drill = codec.read(directory / DRILL_REPORT, DrillReportFile)
    return DeployEntry(
        directory.name,
        directory,
        manifest.action,
        manifest.env,
        manifest.version,
        manifest.commit,
        manifest.outcome,
        manifest.reason,
        when_of(directory.name),
        manifest,
        metrics,
        drill,
    )
