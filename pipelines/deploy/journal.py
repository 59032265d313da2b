"""Each environment's deploy journal: append-only JSON lines, each flushed to disk before the
controller acts on it, so a controller killed at any point leaves a record of what it was
doing; ``status``, ``--resume`` and ``rollback`` read the environment's state from it.

Every line is one of the declared events of ``events``. A last line torn by a crash mid-write
is cut off when the journal is opened (and said so: ``repaired``); any other line that is not
an event makes the journal unreadable, and nothing is decided from it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import msgspec

from pipelines import codec
from pipelines.deploy.events import (
    DeployFinished,
    DeployPaused,
    DeployResumed,
    DeployStarted,
    DeployStatus,
    JournalEvent,
    StableChanged,
    StepDone,
    StepStarted,
    TargetPlanned,
    decode_events,
)
from pipelines.deploy.steps import Step
from pipelines.deploy.target import Release
from pipelines.runlock import held_lock

__all__ = ["DeployStatus", "EnvState", "Journal", "fold"]

JOURNAL = "journal.jsonl"
LOCK = "deploy.lock"
E = TypeVar("E", bound=JournalEvent)


class Journal:
    """The journal file of one environment."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / JOURNAL
        self.repaired = ""  # what opening it cut off (a line torn by a crash), if anything

    def discard(self) -> None:
        """Forget the environment's journal and state (a rollback drill's, when it is done)."""
        shutil.rmtree(self.directory, ignore_errors=True)

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

    def append(self, event: E) -> E:
        """Write one event (stamped with the time) and flush it to disk before returning."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.repair()  # an append after a torn line starts on a line of its own
        stamped = msgspec.structs.replace(
            event, at=datetime.now(UTC).isoformat(timespec="milliseconds")
        )
        with self.path.open("ab") as handle:
            handle.write(codec.encode(stamped) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return stamped

    def repair(self) -> str:
        """Cut off a last line torn by a crash mid-write (it never reached the disk whole, so
        nothing acted on it); return what was cut, "" when the journal was whole."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ""
        if not data or data.endswith(b"\n"):
            return ""
        keep = data.rfind(b"\n") + 1
        torn = data[keep:]
        with self.path.open("r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        self.repaired = (
            f"{self.path}: cut off a last line torn by a crash mid-write "
            f"({len(torn)} bytes: {torn[:60].decode('utf-8', 'replace')!r})"
        )
        return self.repaired

    def entries(self) -> list[JournalEvent]:
        """Every event, in order (a torn last line is repaired first)."""
        self.repair()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise codec.DamagedFile(f"{self.path}: cannot be read: {exc}") from None
        return decode_events(
            data.splitlines(),
            str(self.path),
            "the journal decides what runs: restore it from a copy, or move it "
            "aside and `pipelines restore` the environment",
        )

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
    full: bool = False  # promoted with --full: the rest skips analyses and pauses


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


def fold(events: Sequence[JournalEvent]) -> EnvState:
    """Replay the journal."""
    state = EnvState()
    for event in events:
        last = state.last
        match event:
            case DeployStarted():
                state.releases[event.release.id] = event.release
                previous = event.previous
                state.last = DeployRecord(
                    event.deploy,
                    event.release,
                    event.strategy,
                    state.releases.get(previous) if previous else None,
                    started_at=event.at,
                )
            case TargetPlanned() if last:
                last.targets[event.target] = TargetProgress(list(event.steps))
            case StepStarted() if last and event.target in last.targets:
                last.targets[event.target].started = event.index
            case StepDone() if last and event.target in last.targets:
                last.targets[event.target].done = event.index + 1
            case DeployFinished() if last:
                last.status, last.reason, last.finished_at = event.status, event.reason, event.at
                if last.status is DeployStatus.SUCCEEDED:
                    state.stable = last.release
                    state.passed.append(last.release.id)
            case DeployPaused() if last:
                last.status, last.reason = DeployStatus.PAUSED, event.reason
            case DeployResumed() if last:
                last.status = DeployStatus.RUNNING
                last.full = last.full or event.full  # a resume after it stays full
            case StableChanged():
                state.stable = state.releases.get(event.release)
                if event.release in state.passed:  # a rollback: later releases no longer count
                    state.passed = state.passed[: state.passed.index(event.release) + 1]
    return state
