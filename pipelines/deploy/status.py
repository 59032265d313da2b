"""What runs in an environment and what happened last: the journal's story beside what the
targets really run (``pipelines status``)."""

from __future__ import annotations

from typing import Any

from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.steps import describe
from pipelines.errors import UsageError


def environment_status(denv: DeployEnv) -> dict[str, Any]:
    """The environment's state as JSON: the journal's story and what really runs."""
    state = denv.journal.state()
    last: dict[str, Any] | None = None
    if state.last is not None:
        deploy = state.last
        interrupted = False
        if deploy.status is DeployStatus.RUNNING:
            try:
                with denv.journal.lock("status"):
                    interrupted = True  # nobody holds the lock: its controller died
            except UsageError:
                interrupted = False
        last = {
            "id": deploy.id,
            "release": deploy.release.id,
            "version": deploy.release.version,
            "strategy": deploy.strategy,
            "status": deploy.status.value,
            "reason": deploy.reason,
            "started": deploy.started_at,
            "finished": deploy.finished_at or None,
            "interrupted": interrupted,
            "progress": {
                name: {
                    "done": p.done,
                    "total": len(p.steps),
                    "current": describe(p.steps[p.done]) if p.done < len(p.steps) else None,
                }
                for name, p in deploy.targets.items()
            },
        }
    targets: dict[str, Any] = {}
    for target, settings in zip(denv.targets(), denv.environment.deploy.targets, strict=True):
        targets[target.name] = {
            "entrypoint": target.entrypoint(),
            "kind": settings.kind,
            "router": settings.router,
            "running": {name: run.release for name, run in target.running().items()},
            "weights": target.routed(),
        }
    return {
        "env": denv.environment.name,
        "state": str(denv.directory),
        "stable": state.stable.id + f" ({state.stable.version})" if state.stable else None,
        "passed": state.passed,
        "last": last,
        "targets": targets,
    }
