"""The stages: each runs real tools and writes normalised reports under ``reports/<stage>/``.

A stage is a module with ``run(context) -> StageResult``, named in the STAGES dict; stages do
not know which runner runs them. Modules load on demand so each ``pipelines stage NAME``
process imports only the stage it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pipelines.stages.base import StageContext, StageResult

StageFunction = Callable[[StageContext], StageResult]

STAGES: dict[str, str] = {
    "install": "pipelines.stages.install",
    "lint": "pipelines.stages.lint",
    "security": "pipelines.stages.security",
    "test": "pipelines.stages.test",
    "gate": "pipelines.stages.gate",
    "health": "pipelines.stages.health",
}


def load_stage(name: str) -> StageFunction:
    """The ``run`` function of the named stage."""
    function: StageFunction = importlib.import_module(STAGES[name]).run
    return function
