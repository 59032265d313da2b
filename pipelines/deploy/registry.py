"""Every runtime and router by the name pipeline.yaml gives it (``deploy.targets[].kind`` and
``.router``): a new one is one module with a factory and one entry here; the strategies and
the controller never know which they talk to. A kind whose instances and traffic split are one
system (a cluster's pods and the Services in front of them) is a whole target instead."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pipelines.config.deploy import DeployTarget, ServiceSettings
from pipelines.config.kubernetes import KUBERNETES
from pipelines.deploy import docker, local, nginx
from pipelines.deploy.target import RoutedRuntime, Router, Runtime, Target
from pipelines.errors import UsageError, did_you_mean

F = TypeVar("F")


@dataclass(frozen=True)
class TargetContext:
    """What a factory is given to build one target's runtime or router."""

    name: str  # the target's name in pipeline.yaml
    app: str  # the project's name in pipeline.yaml
    home: Path  # the target's own state directory (records, the router's files)
    listen: str  # the address clients reach the router on
    service: ServiceSettings
    env: Mapping[str, str]  # the environment's variables, for every instance
    env_name: str
    project_slug: str  # unique per checkout of the project (names in shared engines)
    source: str  # pipeline.yaml's path, for error messages
    python: str | None = None  # the interpreter a `python` service command means
    # What instances take from the invoking environment beyond the defaults (child_env).
    pass_env: tuple[str, ...] = ()
    # The invoking environment (where a cluster's kubeconfig is found).
    environ: Mapping[str, str] = field(default_factory=dict)
    drill: bool = False  # built for a rollback drill beside the environment
    preview_listen: str | None = None  # where a router previews the new pool (blue-green)


RUNTIMES: dict[str, Callable[[TargetContext], Runtime]] = {
    "local": local.runtime,
    "docker": docker.runtime,
}
ROUTERS: dict[str, Callable[[TargetContext], Router]] = {
    "nginx": nginx.router,
}


def _kubernetes(settings: DeployTarget, context: TargetContext) -> Target:
    # Imported when used: the cluster client is not needed by an environment without one.
    from pipelines.deploy.kubernetes.wiring import make_target  # noqa: PLC0415

    return make_target(settings, context)


# Kinds that are a whole target (their ``router`` key is not used: pipeline.yaml refuses it).
WHOLE_TARGETS: dict[str, Callable[[DeployTarget, TargetContext], Target]] = {
    KUBERNETES: _kubernetes,
}


def target_kinds() -> list[str]:
    """Every ``deploy.targets[].kind`` this SDK knows."""
    return sorted({*RUNTIMES, *WHOLE_TARGETS})


def build_target(settings: DeployTarget, context: TargetContext, key: str) -> Target:
    """The target ``settings`` declares; an unknown kind or router is a usage error naming
    ``key`` (``environments.prod.deploy.targets[0]``)."""
    whole = WHOLE_TARGETS.get(settings.kind)
    if whole is not None:
        return whole(settings, context)
    where = f"{context.source}: {key}"
    make_runtime = _lookup(RUNTIMES, settings.kind, f"{where}.kind", "runtime", target_kinds())
    make_router = _lookup(ROUTERS, settings.router, f"{where}.router", "router", sorted(ROUTERS))
    return RoutedRuntime(settings.name, make_runtime(context), make_router(context))


def _lookup(table: Mapping[str, F], name: str, where: str, what: str, known: list[str]) -> F:
    if name in table:
        return table[name]
    raise UsageError(
        f"{where}: unknown {what} {name!r}",
        hint=f"{did_you_mean(name, known)}known: {', '.join(known)}",
    )
