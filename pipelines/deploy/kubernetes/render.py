"""Pure: every object a deploy of one environment applies, for ``pipelines deploy --render``
and ``pipelines validate`` (no cluster needed)."""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from pipelines.config.deploy import DeployTarget, StrategyKind
from pipelines.config.kubernetes import KUBERNETES, KubernetesSettings, Router
from pipelines.config.pipeline import Environment, PipelineConfig
from pipelines.deploy.kubernetes import argo
from pipelines.deploy.kubernetes.manifests import Obj, Scope, deployment, http_route, service


def scope_of(config: PipelineConfig, environment: Environment, target: DeployTarget) -> Scope:
    """The scope of one kubernetes target of an environment."""
    settings: KubernetesSettings = target.cluster
    return Scope(config.name, environment.name, settings, config.service, environment.env)


def kubernetes_targets(environment: Environment) -> Iterator[DeployTarget]:
    """The environment's targets of kind kubernetes."""
    for target in environment.deploy.targets:
        if target.kind == KUBERNETES:
            yield target


def render_target(
    scope: Scope,
    environment: Environment,
    *,
    release: str,
    version: str,
    strategy: StrategyKind | None = None,
) -> list[Obj]:
    """What a deploy of ``release`` applies to one target, in the order it applies them."""
    deploy = environment.deploy
    chosen = strategy or deploy.strategy
    settings = scope.settings
    if settings.router is Router.ARGO_ROLLOUTS:
        return [
            *argo.analysis_templates(scope, deploy.analysis),
            service(scope, "stable", None),
            service(scope, "canary", None),
            argo.rollout(
                scope,
                deploy,
                strategy=chosen,
                release=release,
                version=version,
                step_pause=settings.argo_step_pause,
            ),
        ]
    objects = [deployment(scope, release, version, deploy.instances)]
    if settings.router is Router.REPLICAS:
        return [*objects, service(scope, "stable", None)]
    return [
        *objects,
        service(scope, "stable", release),
        service(scope, "canary", release),
        http_route(scope, 100, 0),
    ]


def render_environment(
    config: PipelineConfig,
    environment: Environment,
    *,
    release: str = "r1",
    version: str = "0.0.0",
    strategy: StrategyKind | None = None,
) -> list[Obj]:
    """Every kubernetes object of the environment (empty when it has no such target)."""
    found: list[Obj] = []
    for target in kubernetes_targets(environment):
        scope = scope_of(config, environment, target)
        found += render_target(
            scope, environment, release=release, version=version, strategy=strategy
        )
    return found


def to_yaml(objects: list[Obj]) -> str:
    """A multi-document YAML stream, as ``kubectl apply -f -`` reads it."""
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)
