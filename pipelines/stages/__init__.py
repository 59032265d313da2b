"""The stages: each runs real tools and writes normalised reports under ``reports/<stage>/``.

A stage is a module with ``run(context) -> StageResult``, registered in STAGES; stages do not
know which runner runs them. Modules load on demand so each ``pipelines stage NAME`` process
imports only the stage it runs; each loader is a typed function that mypy checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:  # the command line lists STAGES without loading what a stage works with
    from pipelines.stages.base import StageContext, StageResult

StageFunction: TypeAlias = "Callable[[StageContext], StageResult[Any]]"


def _install() -> StageFunction:
    from pipelines.stages.install import run

    return run


def _lint() -> StageFunction:
    from pipelines.stages.lint import run

    return run


def _security() -> StageFunction:
    from pipelines.stages.security import run

    return run


def _test() -> StageFunction:
    from pipelines.stages.test import run

    return run


def _gate() -> StageFunction:
    from pipelines.stages.gate import run

    return run


def _health() -> StageFunction:
    from pipelines.stages.health import run

    return run


STAGES: dict[str, Callable[[], StageFunction]] = {
    "install": _install,
    "lint": _lint,
    "security": _security,
    "test": _test,
    "gate": _gate,
    "health": _health,
}


def load_stage(name: str) -> StageFunction:
    """The ``run`` function of the named stage."""
    return STAGES[name]()
