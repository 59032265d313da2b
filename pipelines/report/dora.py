"""The four DORA metrics of an environment, computed from its deploy history alone, with the
performance bucket of each (the thresholds of the DORA State of DevOps reports)."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import msgspec

from pipelines.process import GIT, GIT_ENV, run_tool
from pipelines.report.history import DeployEntry, History

DAY = 86400.0
COMMIT_ID = re.compile(r"[0-9a-fA-F]{4,64}")
DEPLOYS = ("deploy", "resume", "promote")
ROLLBACKS = ("rollback", "watch-rollback")


class Metric(msgspec.Struct, frozen=True):
    """One DORA metric: its value, its bucket, and what it was computed from."""

    name: str
    value: float | None
    unit: str
    bucket: str
    basis: str


class DoraReport(msgspec.Struct, frozen=True):
    """What ``pipelines report dora --json`` prints (values to four decimals)."""

    env: str
    since: str  # ISO 8601
    metrics: tuple[Metric, ...]

    @classmethod
    def of(cls, env: str, since: datetime, metrics: Sequence[Metric]) -> DoraReport:
        """The report of ``metrics``."""
        rounded = tuple(
            m if m.value is None else msgspec.structs.replace(m, value=round(m.value, 4))
            for m in metrics
        )
        return cls(env, since.isoformat(), rounded)


def _bucket(value: float | None, limits: Sequence[tuple[float, str]], worst: str) -> str:
    if value is None:
        return "no data"
    return next((name for limit, name in limits if value <= limit), worst)


def _frequency_bucket(per_day: float | None) -> str:
    if per_day is None:
        return "no data"
    if per_day >= 1:
        return "elite"
    if per_day >= 1 / 7:
        return "high"
    if per_day >= 1 / 30:
        return "medium"
    return "low"


def _failed_changes(deploys: Sequence[DeployEntry]) -> list[tuple[DeployEntry, float | None]]:
    """Each failed change with the seconds it took to restore service (None: not restored).

    A change failed when its deploy was rolled back, or when a rollback (by hand or by
    `pipelines watch`) undid it before the next deploy.
    """
    failed: list[tuple[DeployEntry, float | None]] = []
    ordered = sorted(deploys, key=lambda d: d.when)
    for index, entry in enumerate(ordered):
        if entry.action not in DEPLOYS:
            continue
        timeline = entry.timeline
        if entry.rolled_back:
            start = timeline.exposed or timeline.fault_seen or timeline.started
            end = timeline.traffic_on_stable
            restore = None if start is None or end is None else max(0.0, end - start)
            failed.append((entry, restore))
            continue
        if entry.outcome != "succeeded":
            continue
        for later in ordered[index + 1 :]:
            if later.action in DEPLOYS:
                break
            if later.action in ROLLBACKS and later.rolled_back:
                began = timeline.finished or entry.when.timestamp()
                end = later.timeline.traffic_on_stable
                failed.append((entry, None if end is None else max(0.0, end - began)))
                break
    return failed


def dora(
    history: History,
    env: str,
    *,
    since: datetime,
    now: datetime,
    commit_time: Callable[[str], datetime | None],
) -> list[Metric]:
    """Deployment frequency, lead time for changes, change failure rate, time to restore."""
    deploys = [d for d in history.since(since).deploys if d.env == env]
    attempts = [d for d in deploys if d.action in DEPLOYS and d.outcome != "paused"]
    succeeded = [d for d in attempts if d.outcome == "succeeded"]
    days = max((now - since).total_seconds() / DAY, 1e-9)
    per_day = len(succeeded) / days if deploys or succeeded else None
    leads = []
    for entry in succeeded:
        committed = commit_time(entry.commit)
        finished = entry.timeline.finished
        deployed = datetime.fromtimestamp(finished, entry.when.tzinfo) if finished else entry.when
        if committed is not None:
            leads.append((deployed - committed).total_seconds())
    lead = statistics.median(leads) if leads else None
    failed = _failed_changes(deploys)
    rate = 100.0 * len(failed) / len(attempts) if attempts else None
    restores = [seconds for _, seconds in failed if seconds is not None]
    restore = statistics.median(restores) if restores else None
    return [
        Metric(
            "deployment frequency",
            per_day,
            "per day",
            _frequency_bucket(per_day),
            f"{len(succeeded)} successful deploys to {env} in {days:.0f} days",
        ),
        Metric(
            "lead time for changes",
            None if lead is None else lead / 3600,
            "hours (median)",
            _bucket(
                lead,
                [(DAY, "elite"), (7 * DAY, "high"), (30 * DAY, "medium")],
                "low",
            ),
            f"commit time to deploy time of {len(leads)} of {len(succeeded)} deploys"
            + ("" if len(leads) == len(succeeded) else " (the others' commit time is unknown)"),
        ),
        Metric(
            "change failure rate",
            rate,
            "%",
            _bucket(rate, [(5.0, "elite"), (10.0, "high"), (15.0, "medium")], "low"),
            f"{len(failed)} of {len(attempts)} deploys rolled back or undone by a rollback",
        ),
        Metric(
            "time to restore service",
            None if restore is None else restore / 60,
            "minutes (median)",
            _bucket(
                restore,
                [(3600.0, "elite"), (DAY, "high"), (7 * DAY, "medium")],
                "low",
            ),
            f"{len(restores)} restorations (exposure to traffic back on the previous release)",
        ),
    ]


def commit_times(project: Path, history: History) -> dict[str, datetime | None]:
    """When each deployed commit was made: git, else the first run that tested it."""
    found: dict[str, datetime | None] = {}
    for entry in history.deploys:
        commit = entry.commit
        if commit in found:
            continue
        moment = None
        # Only a commit id reaches git (a value read back from a file could be an option).
        if COMMIT_ID.fullmatch(commit or ""):
            argv = [*GIT, "show", "-s", "--format=%cI", commit]
            done = run_tool(argv, cwd=project, timeout=10, env=GIT_ENV)
            if done.returncode == 0 and done.stdout.strip():
                moment = datetime.fromisoformat(done.stdout.strip())
        if moment is None:
            tested = [r.when for r in history.runs if r.commit == commit]
            moment = min(tested) if tested else None
        found[commit] = moment
    return found
