"""The plan contract as seen from the Dagger module, and a DAG executor over it.

This module never imports ``pipelines``: it knows only the JSON that ``pipelines plan --json``
prints, so an SDK edit does not invalidate the module's Dagger cache.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio

PLAN_VERSION = 1
R = TypeVar("R")


class PlanError(ValueError):
    """The plan JSON is not what this module understands."""


@dataclass(frozen=True)
class StageSpec:
    """One stage of the plan: argv lists, DAG edges, environment and outputs."""

    name: str
    run: tuple[tuple[str, ...], ...]
    needs: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    run_if: str = "success"


@dataclass(frozen=True)
class PlanSpec:
    """The whole plan for one environment, stages in a valid order."""

    pipeline: str
    env: str
    stages: tuple[StageSpec, ...]

    def stage(self, name: str) -> StageSpec:
        """The named stage, or a PlanError listing the stages."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise PlanError(f"the plan has no stage {name!r} (stages: {self.names()})")

    def names(self) -> str:
        """Stage names, comma separated."""
        return ", ".join(stage.name for stage in self.stages)


def parse_plan(text: str) -> PlanSpec:
    """Read ``pipelines plan --json`` output."""
    try:
        data: Any = json.loads(text)
        if data.get("version") != PLAN_VERSION:
            raise PlanError(f"plan version {data.get('version')!r}, expected {PLAN_VERSION}")
        stages = tuple(
            StageSpec(
                name=str(stage["name"]),
                run=tuple(tuple(str(arg) for arg in argv) for argv in stage["run"]),
                needs=tuple(str(need) for need in stage.get("needs", ())),
                env={str(k): str(v) for k, v in stage.get("env", {}).items()},
                outputs=tuple(str(o) for o in stage.get("outputs", ())),
                run_if=str(stage.get("run_if", "success")),
            )
            for stage in data["stages"]
        )
        return PlanSpec(str(data["pipeline"]), str(data["env"]), stages)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PlanError(f"not a plan printed by `pipelines plan --json`: {exc}") from exc


@dataclass(frozen=True)
class StageOutcome(Generic[R]):
    """How a stage ended, and what it produced (its reports directory, in the module)."""

    name: str
    status: str  # passed | failed | skipped
    exit_code: int | None = None
    reports: R | None = None


RunStage = Callable[[StageSpec, Mapping[str, R]], Awaitable[tuple[int, R]]]


async def execute_plan(plan: PlanSpec, run_stage: RunStage[R]) -> dict[str, StageOutcome[R]]:
    """Run every stage once its needs are done, independent stages concurrently.

    ``run_stage`` receives the stage and the reports of the stages it needs, and returns
    the exit code and the stage's own reports. A stage whose need did not pass is skipped,
    unless it runs ``always`` (the gate).
    """
    done = {stage.name: anyio.Event() for stage in plan.stages}
    outcomes: dict[str, StageOutcome[R]] = {}

    async def one(stage: StageSpec) -> None:
        try:
            for need in stage.needs:
                await done[need].wait()
            blocked = [n for n in stage.needs if outcomes[n].status != "passed"]
            if blocked and stage.run_if != "always":
                outcomes[stage.name] = StageOutcome(stage.name, "skipped")
                return
            inputs = {n: r for n in stage.needs if (r := outcomes[n].reports) is not None}
            exit_code, reports = await run_stage(stage, inputs)
            status = "passed" if exit_code == 0 else "failed"
            outcomes[stage.name] = StageOutcome(stage.name, status, exit_code, reports)
        finally:
            done[stage.name].set()

    async with anyio.create_task_group() as group:
        for stage in plan.stages:
            group.start_soon(one, stage)
    return {stage.name: outcomes[stage.name] for stage in plan.stages}
