"""The plan contract as seen from the Dagger module, and a DAG executor over it.

This module never imports ``pipelines``: it knows only the JSON that ``pipelines plan --json``
prints, the contract both sides test. Importing the SDK would put its dependencies into the
module's runtime and tie the module's code to the SDK's. (It does not keep the module's cache
across SDK edits: the module's cache key hashes its whole context, and dagger.json's
``include`` puts ``pipelines/`` in it. The stage containers' layers stay cached while their own
inputs are unchanged.)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import anyio

PLAN_VERSION = 1
# The stage keys of the plan (docs/schema/plan.schema.json) this module reads, and those it
# leaves to the SDK: the image is always the toolchain here, tools and notes are for people to read,
# source says how a host runner mounts the tree, and pass_env names what a host runner takes
# from its own environment (an engine's containers get only the plan's env). A test holds both
# against the schema.
STAGE_KEYS_READ = ("name", "run", "needs", "env", "outputs", "run_if", "freshness", "timeout")
STAGE_KEYS_IGNORED = ("image", "tools", "notes", "source", "pass_env")
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
    freshness: str = "cached"  # cached | daily | never
    timeout: float | None = None  # seconds; enforced in the exec


@dataclass(frozen=True)
class PlanSpec:
    """The whole plan for one environment, stages in a valid order."""

    pipeline: str
    env: str
    stages: tuple[StageSpec, ...]
    skipped: tuple[dict[str, str], ...] = ()  # stages the environment does not run, and why

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
        for stage in data["stages"]:
            unknown = sorted(set(stage) - {*STAGE_KEYS_READ, *STAGE_KEYS_IGNORED})
            if unknown:  # the SDK in the toolchain is this module's own version: drift
                raise PlanError(f"stage keys this module does not know: {', '.join(unknown)}")
        stages = tuple(
            StageSpec(
                name=str(stage["name"]),
                run=tuple(tuple(str(arg) for arg in argv) for argv in stage["run"]),
                needs=tuple(str(need) for need in stage.get("needs", ())),
                env={str(k): str(v) for k, v in stage.get("env", {}).items()},
                outputs=tuple(str(o) for o in stage.get("outputs", ())),
                run_if=str(stage.get("run_if", "success")),
                freshness=str(stage.get("freshness", "cached")),
                timeout=_timeout(stage.get("timeout")),
            )
            for stage in data["stages"]
        )
        skipped = tuple(
            {"name": str(s["name"]), "reason": str(s["reason"])} for s in data.get("skipped", ())
        )
        plan = PlanSpec(str(data["pipeline"]), str(data["env"]), stages, skipped)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PlanError(f"not a plan printed by `pipelines plan --json`: {exc}") from exc
    check_dag(plan)
    return plan


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PlanError(f"timeout {value!r}: expected a positive number of seconds or null")
    return float(value)


def select(plan: PlanSpec, names: Sequence[str]) -> PlanSpec:
    """Keep only the named stages (in plan order); needs outside the selection count as met,
    as ``pipelines run STAGE...`` does."""
    if not names:
        return plan
    for name in names:
        plan.stage(name)  # a PlanError naming the stages when it is none
    wanted = set(names)
    kept = tuple(
        replace(stage, needs=tuple(n for n in stage.needs if n in wanted))
        for stage in plan.stages
        if stage.name in wanted
    )
    return replace(plan, stages=kept)


RUN_IF = ("success", "always")
FRESHNESS = ("cached", "daily", "never")


def check_dag(plan: PlanSpec) -> None:
    """Refuse what the executor could not run: a name twice, a need that is no stage, a
    cycle (which would wait forever), or a value this module does not know."""
    names = [stage.name for stage in plan.stages]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise PlanError(f"stages defined twice: {', '.join(twice)}")
    for stage in plan.stages:
        unknown = [need for need in stage.needs if need not in names]
        if unknown:
            raise PlanError(f"stage {stage.name!r} needs {', '.join(unknown)}: not stages")
        if stage.run_if not in RUN_IF or stage.freshness not in FRESHNESS:
            raise PlanError(f"stage {stage.name!r}: unknown run_if or freshness")
    needs = {stage.name: stage.needs for stage in plan.stages}
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise PlanError("the stages form a cycle: " + " -> ".join(cycle))
        state[name] = 1
        for need in needs[name]:
            visit(need, (*path, name))
        state[name] = 2

    for name in names:
        visit(name, ())


@dataclass(frozen=True)
class StageOutcome(Generic[R]):
    """How a stage ended, and what it produced (its reports directory, in the module)."""

    name: str
    status: str  # passed | failed | skipped
    exit_code: int | None = None
    reports: R | None = None
    message: str = ""  # why it failed without an exit code, or why it was skipped


RunStage = Callable[[StageSpec, Mapping[str, R]], Awaitable[tuple[int, R]]]


async def execute_plan(
    plan: PlanSpec, run_stage: RunStage[R], *, fail_fast: bool = False
) -> dict[str, StageOutcome[R]]:
    """Run every stage once its needs are done, independent stages concurrently.

    ``run_stage`` receives the stage and the reports of the stages it needs, and returns
    the exit code and the stage's own reports. A stage whose need did not pass is skipped,
    unless it runs ``always`` (the gate). Any error a stage raises is that stage's failure,
    with its message: it never cancels the other stages nor reaches the caller as a group.
    With ``fail_fast``, a stage that has not started when another failed is skipped.
    """
    done = {stage.name: anyio.Event() for stage in plan.stages}
    outcomes: dict[str, StageOutcome[R]] = {}
    failures: list[str] = []

    async def one(stage: StageSpec) -> None:
        try:
            outcomes[stage.name] = await _run_one(stage)
        finally:
            if stage.name not in outcomes:  # cancelled: what needs it must not wait for ever
                outcomes[stage.name] = StageOutcome(stage.name, "skipped", message="cancelled")
            if outcomes[stage.name].status == "failed":
                failures.append(stage.name)
            done[stage.name].set()

    async def _run_one(stage: StageSpec) -> StageOutcome[R]:
        for need in stage.needs:
            await done[need].wait()
        blocked = [n for n in stage.needs if outcomes[n].status != "passed"]
        if blocked and stage.run_if != "always":
            return StageOutcome(stage.name, "skipped", message="needs " + ", ".join(blocked))
        if fail_fast and failures:
            return StageOutcome(stage.name, "skipped", message="fail fast: " + failures[0])
        inputs = {n: r for n in stage.needs if (r := outcomes[n].reports) is not None}
        try:
            exit_code, reports = await run_stage(stage, inputs)
        except Exception as exc:  # any error is this stage's outcome, with its message
            return StageOutcome(stage.name, "failed", message=_describe(exc))
        status = "passed" if exit_code == 0 else "failed"
        return StageOutcome(stage.name, status, exit_code, reports)

    async with anyio.create_task_group() as group:
        for stage in plan.stages:
            group.start_soon(one, stage)
    return {stage.name: outcomes[stage.name] for stage in plan.stages}


def _describe(exc: BaseException) -> str:
    """One line a user can act on: the error's type and message, the first of a group's."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text}"[:2000]
