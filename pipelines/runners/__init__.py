"""Runners execute a plan's DAG. They know where a command runs, never what a stage does.

Runners are named by module and loaded on demand, so that importing a run's results (every
``pipelines stage`` process does) does not import anyio, Docker support and the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Protocol module imports anyio; only the type is needed here
    from pipelines.runners.base import Runner

RUNNERS: dict[str, str] = {
    "local": "pipelines.runners.local:LocalRunner",
    "docker": "pipelines.runners.docker:DockerRunner",
}


def load_runner(name: str) -> type[Runner]:
    """The runner class registered under ``name``."""
    module, attribute = RUNNERS[name].split(":")
    runner: type[Runner] = getattr(importlib.import_module(module), attribute)
    return runner
