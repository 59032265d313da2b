"""What runs in an environment and what happened last: the journal's story beside what the
targets really run (``pipelines status``)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.events import (
    DeployFinished,
    DeployPaused,
    DeployResumed,
    DeployStarted,
    EnvironmentStopped,
    RestoreStarted,
    RollbackStarted,
    WatchFinished,
)
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.steps import describe
from pipelines.deploy.target import Running, Target
from pipelines.deploy.watch import Health, instance_health
from pipelines.runlock import LockHeld


class Progress(msgspec.Struct, frozen=True):
    """How far a deploy got on one target."""

    done: int
    total: int
    current: str | None  # the step it is at, in words; None when every step is done


class LastDeploy(msgspec.Struct, frozen=True, kw_only=True):
    """The environment's last deploy, as the journal tells it."""

    id: str
    release: str
    version: str
    strategy: str
    status: str
    reason: str
    started: str
    finished: str | None
    interrupted: bool  # still running by the journal, but its controller is gone
    progress: dict[str, Progress]


class TargetStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What one target really runs and routes."""

    entrypoint: str
    kind: str
    router: str
    running: dict[str, str]  # instance -> release
    weights: dict[str, int]  # instance -> traffic weight
    down: list[str]  # routed but not running (dead)
    unhealthy: list[str] = []  # routed and running, but not answering their health path
    serving: int


class EnvironmentStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``pipelines status``: the journal's story beside what the targets really run."""

    env: str
    last_operation: str | None
    below_capacity: list[str]  # one line per target serving fewer instances than configured
    state: str
    stable: str | None
    passed: list[str]
    last: LastDeploy | None
    targets: dict[str, TargetStatus]


def environment_status(denv: DeployEnv) -> EnvironmentStatus:
    """The environment's state: the journal's story and what really runs."""
    state = denv.journal.state()
    last: LastDeploy | None = None
    if state.last is not None:
        deploy = state.last
        interrupted = False
        if deploy.status is DeployStatus.RUNNING:
            try:
                with denv.journal.lock("status"):
                    interrupted = True  # nobody holds the lock: its controller died
            except LockHeld:
                interrupted = False
        last = LastDeploy(
            id=deploy.id,
            release=deploy.release.id,
            version=deploy.release.version,
            strategy=deploy.strategy,
            status=deploy.status.value,
            reason=deploy.reason,
            started=deploy.started_at,
            finished=deploy.finished_at or None,
            interrupted=interrupted,
            progress={
                name: Progress(
                    p.done,
                    len(p.steps),
                    describe(p.steps[p.done]) if p.done < len(p.steps) else None,
                )
                for name, p in deploy.targets.items()
            },
        )
    targets: dict[str, TargetStatus] = {}
    wanted = denv.environment.deploy.instances
    below: list[str] = []
    # Mid-deploy the pools change size on purpose; capacity is judged between deploys.
    settled = state.last is None or state.last.status not in (
        DeployStatus.RUNNING,
        DeployStatus.PAUSED,
    )
    for target, settings in zip(denv.targets(), denv.environment.deploy.targets, strict=True):
        running = target.running()
        weights = target.routed()
        # Routed but gone: an instance that died (the router still sends it its share).
        down = sorted(name for name, weight in weights.items() if weight and name not in running)
        # Routed and running, but no answer in time: hung (passive health skips it).
        health = denv.config.service.health_path
        hung = sorted(
            name
            for name, weight in weights.items()
            if weight and name in running and not _answers(target, running, name, health)
        )
        serving = sum(
            1 for name, weight in weights.items() if weight and name in running and name not in hung
        )
        if settled and state.stable is not None and serving < wanted:
            below.append(f"{target.name}: {serving} of {wanted} instances serve")
        targets[target.name] = TargetStatus(
            entrypoint=target.entrypoint(),
            kind=settings.kind,
            router=settings.router,
            running={name: run.release for name, run in running.items()},
            weights=weights,
            down=down,
            unhealthy=hung,
            serving=serving,
        )
    return EnvironmentStatus(
        env=denv.environment.name,
        last_operation=last_operation(denv),
        below_capacity=below,
        state=str(denv.directory),
        stable=state.stable.id + f" ({state.stable.version})" if state.stable else None,
        passed=list(state.passed),
        last=last,
        targets=targets,
    )


def last_operation(denv: DeployEnv) -> str | None:
    """The last thing that changed what the environment serves, in words."""
    said = None
    for event in denv.journal.entries():
        match event:
            case DeployStarted():
                said = f"deploy {event.deploy}: running"
            case DeployPaused():
                said = f"deploy {event.deploy}: paused ({event.reason or 'waits for promote'})"
            case DeployResumed():
                said = f"deploy {event.deploy}: " + ("promoted" if event.promoted else "resumed")
            case DeployFinished():
                said = f"deploy {event.deploy}: {event.status.value}"
            case RollbackStarted() if event.release is not None:
                said = f"rollback to {event.release}: {event.reason or 'requested'}"
            case RestoreStarted():
                said = f"restore of {event.release}: {event.reason or 'requested'}"
            case EnvironmentStopped():
                said = f"stopped: {event.reason or 'requested'}"
            case WatchFinished() if event.failed:
                said = f"watch of {event.release} rolled back: {event.failed}"
    return said


def _answers(target: Target, running: Mapping[str, Running], name: str, path: str) -> bool:
    """True when the instance answers ``path``; asked twice before it counts as not
    answering, so a slow moment on a busy machine is not reported as a hang."""
    return any(instance_health(target, running, name, path) is Health.OK for _ in range(2))
