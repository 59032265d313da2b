"""Watching a release after its deploy (the report's 48-hour window): health and smoke
checks on a schedule, and a rollback on a critical failure.

The window is written to the journal when it starts, so a watch that is restarted carries
on until the same deadline instead of starting a new 48 hours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pipelines.deploy.controller import Clock, DeployReport
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.events import WatchCheck, WatchFinished, WatchStarted
from pipelines.deploy.target import Running, Target
from pipelines.errors import UsageError


@dataclass
class WatchOutcome:
    """How a watch ended."""

    release: str
    checks: int
    failure: str = ""
    rollback: DeployReport | None = None
    replaced: bool = False  # a newer deploy took over


class Health(StrEnum):
    """How an instance that gets traffic is doing."""

    OK = "ok"
    DEAD = "dead"  # its process (container, pod) is gone
    HUNG = "hung"  # it runs but does not answer in time
    FAILING = "failing"  # it answers, but not 2xx


# An answer that fails after this long is a hang (a target's health probe gives up at 2 s).
HUNG_AFTER = 1.5


def instance_health(target: Target, running: Mapping[str, Running], name: str, path: str) -> Health:
    """Whether ``name`` runs and answers ``path`` with 2xx, and if not, how it fails."""
    if name not in running:
        return Health.DEAD
    began = time.monotonic()
    if target.answers(name, path):
        return Health.OK
    return Health.HUNG if time.monotonic() - began >= HUNG_AFTER else Health.FAILING


def check_once(denv: DeployEnv) -> str:
    """Empty when everything passes, else what failed (naming dead and hung instances)."""
    state = denv.journal.state()
    stable = state.stable
    if stable is None:
        return "no release is deployed"
    service = denv.config.service
    for target in denv.targets():
        running = target.running()
        routed = sorted(target.routed()) or [
            n for n, r in running.items() if r.release == stable.id
        ]
        if not routed:
            return f"{target.name}: no instance of {stable.id} serves"
        for name in routed:
            for path in (service.health_path, *denv.environment.deploy.smoke):
                health = instance_health(target, running, name, path)
                if health is Health.DEAD:
                    return f"{target.name}: {name} is dead: it gets traffic but is not running"
                if health is Health.HUNG:
                    return f"{target.name}: {name} is hung: {path} gave no answer in time"
                if health is Health.FAILING:
                    return f"{target.name}: {name} failed {path}"
    return denv.critical_health()


def watch(
    denv: DeployEnv,
    *,
    window: float,
    every: float,
    clock: Clock,
    log: Callable[[str], None],
) -> WatchOutcome:
    """Check every ``every`` seconds until the window ends; roll back on a failure."""
    journal = denv.journal
    state = journal.state()
    if state.stable is None:
        raise UsageError(
            f"environment {denv.environment.name!r} has no deployed release to watch",
            hint="deploy first",
        )
    release = state.stable.id
    until = _deadline(denv, release) or clock.now() + window
    journal.append(WatchStarted(release=release, until=until, every=every))
    outcome = WatchOutcome(release, 0)
    while True:
        current = journal.state().stable
        if current is None or current.id != release:
            outcome.replaced = True
            journal.append(WatchFinished(release=release, replaced=True))
            return outcome
        failure = check_once(denv)
        outcome.checks += 1
        journal.append(WatchCheck(release=release, ok=not failure, detail=failure))
        if failure:
            log(f"watch: {failure}: rolling back")
            outcome.failure = failure
            with journal.lock(f"rollback by watch of {release}"):
                outcome.rollback = denv.controller(log=log).rollback(f"watch: {failure}")
            journal.append(WatchFinished(release=release, failed=failure))
            return outcome
        log(f"watch: {release} healthy ({outcome.checks} checks)")
        remaining = until - clock.now()
        if remaining <= 0:
            journal.append(WatchFinished(release=release))
            return outcome
        clock.sleep(min(every, remaining))


def _deadline(denv: DeployEnv, release: str) -> float | None:
    """The deadline of an unfinished watch of ``release`` (a restarted watch keeps it)."""
    deadline = None
    for event in denv.journal.entries():
        match event:
            case WatchStarted() if event.release == release:
                deadline = event.until
            case WatchFinished() if event.release == release:
                deadline = None
    return deadline
