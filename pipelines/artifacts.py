"""Audit artifacts of every run: ``artifacts/<run-id>/`` with the manifest and the reports."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import msgspec
from msgspec import UNSET, UnsetType

from pipelines import __version__, atomic, codec, containment
from pipelines.audit import RunAudit
from pipelines.layout import COVERAGE, DECISION_ARTIFACT, GATE_DECISION, JUNIT, Layout, logical
from pipelines.plan import Plan
from pipelines.runners.results import RunResult, RunStatus, StageRun
from pipelines.source_tree import find_commit

MANIFEST = "run-manifest.json"


class RunManifest(msgspec.Struct, frozen=True, kw_only=True):
    """``artifacts/<run-id>/run-manifest.json``: what ran, where, with which outcome, and
    the files kept. ``refused`` and ``audit`` are written only when there is something to
    say."""

    run_id: str
    version: str = ""
    pipeline: str = ""
    env: str
    commit: str = "unknown"
    timestamp: str | None = None  # ISO 8601, when the run started
    runner: str = ""
    status: str  # passed, failed or interrupted
    duration_seconds: float = 0.0
    stages: tuple[StageRun, ...] = ()
    artifacts: dict[str, str] = {}  # name among the artifacts -> the report it was copied from
    refused: dict[str, str] | UnsetType = UNSET  # report -> why it was not copied
    audit: RunAudit | UnsetType = UNSET


def read_manifest(path: Path) -> RunManifest:
    """A run manifest (DamagedFile naming it, and the key, when it is not one)."""
    return codec.read(path, RunManifest, hint="run the pipeline again")


def manifests(artifacts: Path) -> list[Path]:
    """Every run's manifest under ``artifacts``, oldest first (run ids sort by time)."""
    return sorted(artifacts.glob(f"*/{MANIFEST}")) if artifacts.is_dir() else []


# Report produced by a run (its logical path) -> its name among the artifacts.
COLLECTED = {
    logical("test", JUNIT): "test-results.xml",
    logical("test", COVERAGE): "coverage.xml",
    GATE_DECISION: DECISION_ARTIFACT,
}


@dataclass(frozen=True)
class RunIdentity:
    """Who and what a run was: its id, time, commit and environment."""

    run_id: str
    started: datetime
    commit: str

    @classmethod
    def new(
        cls, project: Path, environ: Mapping[str, str], now: datetime | None = None
    ) -> RunIdentity:
        """Give a run a sortable, unique id and find the commit it tested."""
        started = now or datetime.now(UTC)
        # Milliseconds keep ids in time order when several runs (a deploy, then its
        # rollback) start within one second.
        stamp = started.strftime("%Y%m%dT%H%M%S") + f"{started.microsecond // 1000:03d}Z"
        run_id = stamp + "-" + secrets.token_hex(3)
        return cls(run_id, started, find_commit(project, environ))


@dataclass(frozen=True)
class WrittenRun:
    """Where a run's artifacts went, and the reports refused (a link where a file belongs)."""

    directory: Path
    refused: Mapping[str, str]


def matches(layout: Layout, pattern: str) -> list[tuple[str, Path]]:
    """The files a kept pattern names (``reports/build/*.whl``, or a directory and all the
    files under it), as (logical path, real path). A link a stage left is never followed."""
    parts = PurePosixPath(pattern).parts
    base = layout.report("/".join(parts[:2]))
    if base.is_symlink() or not base.is_dir():
        return []
    rest = "/".join(parts[2:])
    candidates = [base] if not rest else sorted(base.glob(rest))
    found: dict[str, Path] = {}
    for candidate in candidates:
        inside = candidate.relative_to(base).parts
        # No link anywhere on the way down: only what the stage wrote as plain files.
        if any((base.joinpath(*inside[: i + 1])).is_symlink() for i in range(len(inside))):
            continue
        files = [candidate] if candidate.is_file() else _files_under(candidate)
        for path in files:
            name = "/".join((*parts[:2], *path.relative_to(base).parts))
            found[name] = path
    return sorted(found.items())


def _files_under(directory: Path) -> list[Path]:
    found = []
    pending = [directory]
    while pending:
        current = pending.pop()
        if current.is_symlink() or not current.is_dir():
            continue
        for entry in current.iterdir():
            if entry.is_symlink():
                continue
            if entry.is_dir():
                pending.append(entry)
            elif entry.is_file():
                found.append(entry)
    return found


def unmatched(layout: Layout, result: RunResult, kept: tuple[str, ...]) -> dict[str, list[str]]:
    """Per stage that ran, its kept patterns that matched no file (a warning, not a failure)."""
    ran = {s.name for s in result.stages if s.status in (RunStatus.PASSED, RunStatus.FAILED)}
    missing: dict[str, list[str]] = {}
    for pattern in kept:
        stage = PurePosixPath(pattern).parts[1]
        if stage in ran and not matches(layout, pattern):
            missing.setdefault(stage, []).append(pattern)
    return missing


def write_run_artifacts(
    layout: Layout,
    identity: RunIdentity,
    plan: Plan,
    result: RunResult,
    *,
    kept: tuple[str, ...] = (),
    audit: RunAudit | None = None,
) -> WrittenRun:
    """Write the manifest and copy the reports this run produced (and the files custom stages
    keep, under their own paths); every file is written atomically.

    Only stages that ran in this run contribute: a report left by an earlier run, of a stage
    not selected now, never passes for this run's. ``audit`` holds the heads of audit logs.
    A report that is a link, or lies behind one, is refused and named, never followed.
    """
    target = layout.artifacts / identity.run_id
    ran = {s.name for s in result.stages if s.status in (RunStatus.PASSED, RunStatus.FAILED)}
    collected: dict[str, str] = {}
    refused: dict[str, str] = {}
    wanted = list(COLLECTED.items())
    for pattern in kept:
        if PurePosixPath(pattern).parts[1] in ran:
            wanted += [(logical_path, logical_path) for logical_path, _ in matches(layout, pattern)]
    for source, name in wanted:
        if PurePosixPath(source).parts[1] not in ran:
            continue
        # A stage wrote these paths: a link there must not copy a host file into the run.
        try:
            with containment.open_regular(*layout.located(source)) as handle:
                atomic.copy_stream(handle, target / name)
        except FileNotFoundError:
            continue
        except containment.Refused as exc:
            refused[source] = exc.strerror or "not a regular file"
            continue
        collected[name] = source
    manifest = RunManifest(
        run_id=identity.run_id,
        version=__version__,
        pipeline=plan.pipeline,
        env=plan.env,
        commit=identity.commit,
        timestamp=identity.started.isoformat(),
        runner=result.runner,
        status=result.status,
        duration_seconds=round(result.duration, 3),
        stages=result.stages,
        artifacts=collected,
        refused=refused or UNSET,
        audit=audit if audit is not None and audit.flags is not None else UNSET,
    )
    codec.write(target / MANIFEST, manifest)
    return WrittenRun(target, refused)
