"""The stages: each runs real tools and writes normalised reports under ``reports/<stage>/``.

A stage is a module with ``run(context) -> StageResult``, kept in the STAGES dict; stages do
not know which runner runs them.
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.stages import gate, lint, security, test
from pipelines.stages.base import StageContext, StageResult

STAGES: dict[str, Callable[[StageContext], StageResult]] = {
    "lint": lint.run,
    "security": security.run,
    "test": test.run,
    "gate": gate.run,
}
