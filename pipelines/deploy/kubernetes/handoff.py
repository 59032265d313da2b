"""The Argo Rollouts hand-off at run time: apply the AnalysisTemplates, Services and Rollout,
then follow the Rollout's ``.status`` until it says how the rollout ended; ``promote`` and
``abort`` write what the Argo Rollouts kubectl plugin writes (the status subresource)."""

from __future__ import annotations

import time
from collections.abc import Callable

from pipelines.deploy.kubernetes.argo import Reading, RolloutStatus, read_status
from pipelines.deploy.kubernetes.client import KubeClient, Obj
from pipelines.deploy.kubernetes.manifests import Scope

POLL = 1.0


def apply_and_follow(
    client: KubeClient,
    scope: Scope,
    objects: list[Obj],
    *,
    timeout: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutStatus:
    """Apply ``objects`` (the Rollout last) and wait for an outcome. A rollout that is still
    progressing when ``timeout`` runs out is reported as waiting: never as a success."""
    for obj in objects:
        client.apply(obj)
    return follow(client, scope, timeout=timeout, log=log, sleep=sleep)


def follow(
    client: KubeClient,
    scope: Scope,
    *,
    timeout: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutStatus:
    """Read the Rollout's status until it succeeded, paused or went back to stable."""
    deadline = time.monotonic() + timeout
    seen = ""
    while True:
        current = client.get("Rollout", scope.namespace, scope.app)
        status = (
            read_status(current)
            if current is not None
            else RolloutStatus(Reading.WAITING, "", "the Rollout is gone")
        )
        shown = f"{status.phase or 'no phase yet'}: {status.message}".rstrip(": ")
        if shown != seen:
            log(f"Rollout {scope.namespace}/{scope.app}: {shown}")
            seen = shown
        if status.reading is not Reading.WAITING:
            return status
        if time.monotonic() > deadline:
            return RolloutStatus(
                Reading.WAITING, status.phase, f"no outcome within {timeout:g} s ({shown})"
            )
        sleep(POLL)


def promote(client: KubeClient, scope: Scope, *, full: bool = False) -> None:
    """Continue a paused Rollout (clears its pause conditions); ``full``: all the way, past
    its remaining steps and analyses (``kubectl argo rollouts promote --full``)."""
    status: dict[str, object] = {"pauseConditions": None}
    if full:
        status["promoteFull"] = True
    client.merge_patch(
        "Rollout", scope.namespace, scope.app, {"status": status}, subresource="status"
    )


def abort(client: KubeClient, scope: Scope) -> None:
    """Tell Argo to go back to the stable ReplicaSet."""
    client.merge_patch(
        "Rollout", scope.namespace, scope.app, {"status": {"abort": True}}, subresource="status"
    )
