"""Each environment's deploy journal: append-only JSON lines, each flushed to disk before the
controller acts on it, so a controller killed at any point leaves a record of what it was
doing; ``status``, ``--resume`` and ``rollback`` read the environment's state from it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipelines.deploy.steps import Step, step_from_dict
from pipelines.deploy.target import Release
from pipelines.runlock import held_lock

JOURNAL = "journal.jsonl"
LOCK = "deploy.lock"


class DeployStatus(StrEnum):
    """Where a deploy stands."""

    RUNNING = "running"  # in progress (or its controller died: see ``interrupted``)
    PAUSED = "paused"  # waits for `promote` or `rollback`
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"  # stopped and rolled back by hand or not at all


class Journal:
    """The journal file of one environment."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / JOURNAL

    @contextmanager
    def lock(self, description: str) -> Iterator[None]:
        """One controller per environment; a dead one's lock is released by the kernel."""
        with held_lock(
            self.directory / LOCK,
            description,
            busy="another deploy of this environment is running",
            hint="wait for it, or see `pipelines status`; a killed deploy releases the lock "
            "and `pipelines deploy --resume` or `pipelines rollback` takes over",
        ):
            yield

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Write one entry and flush it to disk before returning."""
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
        entry.update(data)
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry; a line torn by a crash mid-write (the last one) is skipped."""
        if not self.path.is_file():
            return []
        found: list[dict[str, Any]] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
        return found

    def state(self) -> EnvState:
        """The environment as the journal tells it."""
        return fold(self.entries())


@dataclass
class TargetProgress:
    """One target's part of a deploy."""

    steps: list[Step]
    done: int = 0  # steps finished
    started: int = -1  # the step begun last (== done while one is in flight)


@dataclass
class DeployRecord:
    """One deploy as the journal tells it."""

    id: str
    release: Release
    strategy: str
    previous: Release | None
    status: DeployStatus = DeployStatus.RUNNING
    targets: dict[str, TargetProgress] = field(default_factory=dict)
    reason: str = ""
    started_at: str = ""
    finished_at: str = ""


@dataclass
class EnvState:
    """What runs in an environment and what happened last."""

    releases: dict[str, Release] = field(default_factory=dict)
    stable: Release | None = None  # the last release that passed
    passed: list[str] = field(default_factory=list)  # release ids that passed, in order
    last: DeployRecord | None = None

    def next_release_id(self) -> str:
        """r1, r2, ... in deploy order."""
        return f"r{len(self.releases) + 1}"


def fold(entries: Sequence[Mapping[str, Any]]) -> EnvState:
    """Replay the journal."""
    state = EnvState()
    for entry in entries:
        match entry.get("event"):
            case "deploy-started":
                release = Release.from_dict(entry["release"])
                state.releases[release.id] = release
                previous = entry.get("previous")
                state.last = DeployRecord(
                    str(entry["deploy"]),
                    release,
                    str(entry["strategy"]),
                    state.releases.get(str(previous)) if previous else None,
                    started_at=str(entry["at"]),
                )
            case "target-planned" if state.last:
                steps = [step_from_dict(item) for item in entry["steps"]]
                state.last.targets[str(entry["target"])] = TargetProgress(steps)
            case "step-started" if state.last:
                state.last.targets[str(entry["target"])].started = int(entry["index"])
            case "step-done" if state.last:
                state.last.targets[str(entry["target"])].done = int(entry["index"]) + 1
            case "deploy-finished" if state.last:
                state.last.status = DeployStatus(entry["status"])
                state.last.reason = str(entry.get("reason", ""))
                state.last.finished_at = str(entry["at"])
                if state.last.status is DeployStatus.SUCCEEDED:
                    state.stable = state.last.release
                    state.passed.append(state.last.release.id)
            case "deploy-paused" if state.last:
                state.last.status = DeployStatus.PAUSED
                state.last.reason = str(entry.get("reason", ""))
            case "deploy-resumed" if state.last:
                state.last.status = DeployStatus.RUNNING
            case "stable-changed":
                release_id = str(entry["release"])
                state.stable = state.releases.get(release_id)
                if release_id in state.passed:  # a rollback: later releases no longer count
                    state.passed = state.passed[: state.passed.index(release_id) + 1]
    return state
