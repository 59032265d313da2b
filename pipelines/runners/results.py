"""What a run produced: each stage's status and timing. No I/O, cheap to import."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import msgspec


class RunStatus(StrEnum):
    """Where a stage is in a run."""

    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # a stage it needs did not pass
    CANCELLED = "cancelled"  # stopped by --fail-fast


# The usual check that no stage changed the source: git's list of tracked files.
TRACKED = "tracked files"
FINISHED = frozenset({RunStatus.PASSED, RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.CANCELLED})


class StageRun(msgspec.Struct, frozen=True):
    """How one stage of the plan went (an entry of the run manifest's ``stages``). Times are
    kept to the millisecond."""

    name: str
    status: RunStatus
    duration: float = msgspec.field(default=0.0, name="duration_seconds")
    exit_code: int | None = None
    log: str = ""
    reason: str = ""
    started: float | None = None  # seconds after the run started (for the timeline)

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "duration", round(self.duration, 3))
        if self.started is not None:
            msgspec.structs.force_setattr(self, "started", round(self.started, 3))


@dataclass(frozen=True)
class RunResult:
    """Every stage's outcome, in plan order."""

    runner: str
    stages: tuple[StageRun, ...]
    duration: float
    interrupted: bool = False  # Ctrl-C: the stages that had not finished were cancelled
    # What was compared to see that no stage changed the source (shown under the run table).
    source_check: str = TRACKED

    @property
    def ok(self) -> bool:
        """True when every stage passed."""
        return not self.interrupted and all(s.status is RunStatus.PASSED for s in self.stages)

    @property
    def status(self) -> str:
        """passed, failed or interrupted."""
        if self.interrupted:
            return "interrupted"
        return "passed" if self.ok else "failed"
