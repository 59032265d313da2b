"""Every runtime and router by the name pipeline.yaml gives it (``deploy.targets[].kind`` and
``.router``): a new one is one module with a factory and one entry here; the strategies and
the controller never know which they talk to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pipelines.config.deploy import DeployTarget, ServiceSettings
from pipelines.deploy import docker, local, nginx
from pipelines.deploy.target import RoutedRuntime, Router, Runtime
from pipelines.errors import UsageError, did_you_mean

F = TypeVar("F")


@dataclass(frozen=True)
class TargetContext:
    """What a factory is given to build one target's runtime or router."""

    name: str  # the target's name in pipeline.yaml
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
    preview_listen: str | None = None  # where a router previews the new pool (blue-green)


RUNTIMES: dict[str, Callable[[TargetContext], Runtime]] = {
    "local": local.runtime,
    "docker": docker.runtime,
}
ROUTERS: dict[str, Callable[[TargetContext], Router]] = {
    "nginx": nginx.router,
}


def build_target(settings: DeployTarget, context: TargetContext, key: str) -> RoutedRuntime:
    """The target ``settings`` declares; an unknown kind or router is a usage error naming
    ``key`` (``environments.prod.deploy.targets[0]``)."""
    make_runtime = _lookup(RUNTIMES, settings.kind, f"{context.source}: {key}.kind", "runtime")
    make_router = _lookup(ROUTERS, settings.router, f"{context.source}: {key}.router", "router")
    return RoutedRuntime(settings.name, make_runtime(context), make_router(context))


def _lookup(table: Mapping[str, F], name: str, where: str, what: str) -> F:
    if name in table:
        return table[name]
    raise UsageError(
        f"{where}: unknown {what} {name!r}",
        hint=f"{did_you_mean(name, table)}known: {', '.join(sorted(table))}",
    )
