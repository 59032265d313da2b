"""The kubernetes target and its cluster state, built from an environment's settings: one
client per kubeconfig and context, shared by the target and the journal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.config.deploy import DeployTarget, StrategyKind
from pipelines.config.kubernetes import Router
from pipelines.config.pipeline import Environment, PipelineConfig
from pipelines.deploy.kubernetes import handoff
from pipelines.deploy.kubernetes.argo import RolloutStatus
from pipelines.deploy.kubernetes.client import KubeClient
from pipelines.deploy.kubernetes.kubeconfig import kubeconfig_path, load_credentials
from pipelines.deploy.kubernetes.manifests import Scope
from pipelines.deploy.kubernetes.render import kubernetes_targets, render_target, scope_of
from pipelines.deploy.kubernetes.state import ClusterJournal
from pipelines.deploy.kubernetes.target import KubernetesTarget
from pipelines.deploy.target import Release

if TYPE_CHECKING:  # the registry imports this module when a kubernetes target is built
    from pipelines.deploy.registry import TargetContext
from pipelines.errors import UsageError


@cache
def _client(path: Path, context: str | None) -> KubeClient:
    return KubeClient(load_credentials(path, context))


def client_for(target: DeployTarget, environ: Mapping[str, str]) -> KubeClient:
    """The API client of a kubernetes target (its kubeconfig and context)."""
    settings = target.cluster
    return _client(kubeconfig_path(environ, settings.kubeconfig), settings.context)


def make_target(target: DeployTarget, context: TargetContext) -> KubernetesTarget:
    """The target the controller drives (the registry's entry for kind kubernetes)."""
    if target.cluster.router is Router.ARGO_ROLLOUTS:
        raise UsageError(
            f"target {target.name!r} hands deploys to Argo Rollouts: `pipelines deploy` "
            "applies its Rollout and follows it (no step-by-step controller)",
            hint="see docs/kubernetes.md, 'Argo Rollouts hand-off'",
        )
    return KubernetesTarget(
        target.name,
        client=client_for(target, context.environ),
        scope=Scope(
            context.app,
            context.env_name,
            target.cluster,
            context.service,
            context.env,
            drill=context.drill,
        ),
        ready_timeout=target.cluster.ready_timeout,
    )


def cluster_journal(
    config: PipelineConfig, environment: Environment, directory: Path,
    environ: Mapping[str, str],
) -> ClusterJournal | None:  # fmt: skip
    """The environment's journal in the cluster of its first kubernetes target (None when it
    has none: the journal stays on disk)."""
    target = next(kubernetes_targets(environment), None)
    if target is None:
        return None
    return ClusterJournal(
        directory,
        client_for(target, environ),
        scope_of(config, environment, target),
        target.cluster.lease_duration,
    )


def argo_target(environment: Environment) -> DeployTarget | None:
    """The environment's target that hands deploys to Argo Rollouts, if it has one."""
    return next(
        (t for t in kubernetes_targets(environment) if t.cluster.router is Router.ARGO_ROLLOUTS),
        None,
    )


class ArgoAction(StrEnum):
    """What a command asks of a Rollout."""

    DEPLOY = "deploy"
    FOLLOW = "follow"
    PROMOTE = "promote"
    PROMOTE_FULL = "promote-full"
    ABORT = "abort"


def hand_off(
    config: PipelineConfig,
    environment: Environment,
    target: DeployTarget,
    environ: Mapping[str, str],
    *,
    action: ArgoAction,
    log: Callable[[str], None],
    release: Release | None = None,
    strategy: StrategyKind | None = None,
) -> RolloutStatus:
    """Apply (deploy), promote or abort the target's Rollout, then follow it to an outcome."""
    client = client_for(target, environ)
    scope = scope_of(config, environment, target)
    timeout = target.cluster.ready_timeout
    match action:
        case ArgoAction.DEPLOY:
            assert release is not None  # noqa: S101 - the deploy command always passes one
            objects = render_target(
                scope, environment, release=release.id, version=release.version,
                strategy=strategy,
            )  # fmt: skip
            return handoff.apply_and_follow(client, scope, objects, timeout=timeout, log=log)
        case ArgoAction.PROMOTE | ArgoAction.PROMOTE_FULL:
            handoff.promote(client, scope, full=action is ArgoAction.PROMOTE_FULL)
        case ArgoAction.ABORT:
            handoff.abort(client, scope)
        case ArgoAction.FOLLOW:
            pass
    return handoff.follow(client, scope, timeout=timeout, log=log)
