"""Runners execute a plan's DAG. They know where a command runs, never what a stage does.

Runners load on demand, so that importing a run's results (every ``pipelines stage`` process
does) does not import anyio, Docker support and the rest. Each loader is a typed function, so
mypy checks that it returns a runner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Protocol module imports anyio; only the type is needed here
    from pipelines.runners.base import Runner


def _local() -> type[Runner]:
    from pipelines.runners.local import LocalRunner

    return LocalRunner


def _docker() -> type[Runner]:
    from pipelines.runners.docker import DockerRunner

    return DockerRunner


RUNNERS: dict[str, Callable[[], type[Runner]]] = {"local": _local, "docker": _docker}


def load_runner(name: str) -> type[Runner]:
    """The runner class registered under ``name``."""
    return RUNNERS[name]()
