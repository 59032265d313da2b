"""What a run produced: each stage's status and timing. No I/O, cheap to import."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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


@dataclass(frozen=True)
class StageRun:
    """How one stage of the plan went."""

    name: str
    status: RunStatus
    duration: float = 0.0
    exit_code: int | None = None
    log: str = ""
    reason: str = ""
    started: float | None = None  # seconds after the run started (for the timeline)

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the run manifest."""
        return {
            "name": self.name,
            "status": self.status.value,
            "duration_seconds": round(self.duration, 3),
            "exit_code": self.exit_code,
            "log": self.log,
            "reason": self.reason,
            "started": None if self.started is None else round(self.started, 3),
        }


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

    def to_dict(self) -> dict[str, Any]:
        """Serialise for ``--json`` and the run manifest."""
        return {
            "runner": self.runner,
            "status": self.status,
            "duration_seconds": round(self.duration, 3),
            "stages": [stage.to_dict() for stage in self.stages],
        }
