"""Pruning artifacts by their retention: never anything younger than its retention, never an
audit log (files are never candidates), never a directory this tool did not write."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import msgspec

from pipelines import codec, containment
from pipelines.artifacts import MANIFEST
from pipelines.codec import DamagedFile
from pipelines.config.retention import RetentionSettings
from pipelines.deploy.records import DRILL_REPORT
from pipelines.report.history import DEPLOY_MANIFEST, when_of

MANIFEST_LIMIT = 16 * 1024 * 1024  # a manifest is a few kilobytes


class Kind(StrEnum):
    """What a run directory holds."""

    RUN = "run"  # a pipeline run's test results, coverage and gate decision
    DEPLOY = "deploy"
    DRILL = "drill"


@dataclass(frozen=True)
class Candidate:
    """A run directory, what it holds, its age and what it may be kept for."""

    path: Path
    kind: Kind
    env: str | None
    age: float  # seconds
    keep_for: float

    @property
    def expired(self) -> bool:
        """Older than its retention."""
        return self.age > self.keep_for


def classify(directory: Path, settings: RetentionSettings, now: datetime) -> Candidate | None:
    """What a directory under artifacts/ is; None for anything this tool did not write."""
    try:
        age = (now - when_of(directory.name)).total_seconds()
    except ValueError:
        return None
    if containment.is_regular(directory, DRILL_REPORT):
        return Candidate(directory, Kind.DRILL, None, age, settings.drills)
    if containment.is_regular(directory, DEPLOY_MANIFEST):
        env = _env_of(directory / DEPLOY_MANIFEST)
        keep = settings.deploys_by_env.get(env or "", settings.deploys)
        return Candidate(directory, Kind.DEPLOY, env, age, keep)
    if containment.is_regular(directory, MANIFEST):
        return Candidate(directory, Kind.RUN, _env_of(directory / MANIFEST), age, settings.runs)
    return None


class _Environment(msgspec.Struct):
    """What retention needs of a run's or a deploy's manifest: its environment."""

    env: str | None = None


def _env_of(path: Path) -> str | None:
    # Read without following a link: a manifest that is one is not this tool's.
    raw = containment.read_regular(path.parent, path.name, limit=MANIFEST_LIMIT)
    if raw is None:
        return None
    try:
        # A damaged manifest keeps the retention of runs of no environment.
        return codec.decode(raw, _Environment, str(path)).env or None
    except DamagedFile:
        return None


def plan_prune(artifacts: Path, settings: RetentionSettings, now: datetime) -> list[Candidate]:
    """Every run directory (files such as the audit logs are never candidates)."""
    if not artifacts.is_dir():
        return []
    found = []
    for directory in sorted(p for p in artifacts.iterdir() if p.is_dir() and not p.is_symlink()):
        candidate = classify(directory, settings, now)
        if candidate is not None:
            found.append(candidate)
    return found


def prune(candidates: list[Candidate]) -> list[Path]:
    """Delete the expired ones; return what went. A link is never followed: one put in a
    run directory's place since it was classified is left alone, and links inside a run
    directory go with it, never what they point to."""
    gone = []
    for candidate in candidates:
        if candidate.expired and not candidate.path.is_symlink():
            shutil.rmtree(candidate.path)
            gone.append(candidate.path)
    return gone
