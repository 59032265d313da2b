"""The deploy journal's entries: a tagged union of declared types (the ``event`` key names the
type), written by the controller, the watch and the operations and decoded by the journal,
so no reader ever looks an event up by a string key."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import msgspec

from pipelines import codec
from pipelines.deploy.analysis import MeasurementSummary
from pipelines.deploy.steps import Step
from pipelines.deploy.target import Release


class DeployStatus(StrEnum):
    """Where a deploy stands."""

    RUNNING = "running"  # in progress (or its controller died: see ``interrupted``)
    PAUSED = "paused"  # waits for `promote` or `rollback`
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"  # stopped and rolled back by hand or not at all


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    """What every entry has: when it was written (ISO 8601, UTC, set by the journal)."""

    at: str = ""


class DeployStarted(Event, frozen=True, kw_only=True, tag="deploy-started"):
    """A deploy of ``release`` begins; ``previous`` is the stable release it replaces."""

    deploy: str
    release: Release
    previous: str | None
    strategy: str
    targets: list[str] = []


class TargetPlanned(Event, frozen=True, kw_only=True, tag="target-planned"):
    """The steps a target will go through, fixed before the first one (a resume repeats
    them, it never re-plans)."""

    target: str
    steps: list[Step]
    stable: list[str] = []


class StepStarted(Event, frozen=True, kw_only=True, tag="step-started"):
    """A step begins (a controller that dies now repeats it on resume)."""

    target: str
    index: int


class StepDone(Event, frozen=True, kw_only=True, tag="step-done"):
    """A step finished (``promoted``: passed by hand with `pipelines promote`)."""

    target: str
    index: int
    promoted: bool = False


class Decision(Event, frozen=True, kw_only=True, tag="decision"):
    """The strategy's decision after a failed or inconclusive step."""

    target: str
    index: int
    next: str
    reason: str = ""


class AnalysisTaken(Event, frozen=True, kw_only=True, tag="analysis"):
    """One measurement of the new release against the stable one."""

    # Older journals spread the measurement over the entry, its time in `at` as seconds.
    at: str | float = ""  # type: ignore[assignment]  # an older entry's time is a number
    target: str
    weight: float
    measurement: MeasurementSummary | None = None


class DeployPaused(Event, frozen=True, kw_only=True, tag="deploy-paused"):
    """The deploy waits for `promote` or `rollback`."""

    deploy: str
    reason: str = ""


class DeployResumed(Event, frozen=True, kw_only=True, tag="deploy-resumed"):
    """A deploy continues (after a crash, or promoted past a pause; ``full``: promoted all
    the way, its remaining analyses and pauses skipped)."""

    deploy: str
    promoted: bool = False
    full: bool = False


class RollbackStarted(Event, frozen=True, kw_only=True, tag="rollback-started"):
    """Traffic goes back: of a deploy (``deploy``), or to an earlier release (``release``)."""

    deploy: str | None = None
    release: str | None = None
    keep_new: bool = False
    reason: str = ""


class TrafficOnStable(Event, frozen=True, kw_only=True, tag="traffic-on-stable"):
    """Every request of ``target`` goes to the stable release again."""

    target: str


class StableChanged(Event, frozen=True, kw_only=True, tag="stable-changed"):
    """The release that counts as stable is now ``release`` (a rollback)."""

    release: str


class DeployFinished(Event, frozen=True, kw_only=True, tag="deploy-finished"):
    """A deploy ended."""

    deploy: str
    status: DeployStatus
    reason: str = ""


class RestoreStarted(Event, frozen=True, kw_only=True, tag="restore-started"):
    """The recorded stable release (and its routing) is brought back as recorded."""

    release: str
    reason: str = ""


class EnvironmentStopped(Event, frozen=True, kw_only=True, tag="environment-stopped"):
    """The router and every instance were stopped (`pipelines stop`); the stable release
    stays recorded, for `pipelines restore`."""

    reason: str = ""


class WatchStarted(Event, frozen=True, kw_only=True, tag="watch-started"):
    """A watch of ``release`` runs until ``until`` (seconds since the epoch)."""

    release: str
    until: float
    every: float


class WatchCheck(Event, frozen=True, kw_only=True, tag="watch-check"):
    """One check of a watch."""

    release: str
    ok: bool
    detail: str = ""


class WatchFinished(Event, frozen=True, kw_only=True, tag="watch-finished"):
    """A watch ended: its window passed, a newer release replaced it, or it failed."""

    release: str
    replaced: bool = False
    failed: str = ""


JournalEvent = (
    DeployStarted
    | TargetPlanned
    | StepStarted
    | StepDone
    | Decision
    | AnalysisTaken
    | DeployPaused
    | DeployResumed
    | RollbackStarted
    | TrafficOnStable
    | StableChanged
    | DeployFinished
    | RestoreStarted
    | EnvironmentStopped
    | WatchStarted
    | WatchCheck
    | WatchFinished
)


_DECODER = msgspec.json.Decoder(JournalEvent, dec_hook=codec.dec_hook)


def decode_events(lines: Iterable[bytes | str], where: str, hint: str) -> list[JournalEvent]:
    """Journal lines as events (blank lines skipped); a line that is not an event is a damaged
    file named with its line, never skipped: the journal decides what runs."""
    found: list[JournalEvent] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(_DECODER.decode(line))
        except msgspec.DecodeError as exc:
            raise codec.DamagedFile(
                f"{where}:{number}: not a journal event ({exc})", hint=hint
            ) from None
    return found
