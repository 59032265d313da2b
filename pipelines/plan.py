"""The plan: the pipeline as data, computed from config by pure code.

Every runner (local, docker, dagger) executes the same plan, so its JSON form is the contract
between this package and the Dagger module in ``ci/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.config import PipelineConfig
from pipelines.errors import ConfigError, UsageError

PLAN_VERSION = 1
RUN_IF = ("success", "always")


@dataclass(frozen=True)
class PlannedStage:
    """One node of the DAG: what to run (argv lists), after what, with which env and outputs."""

    name: str
    run: tuple[tuple[str, ...], ...]
    needs: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    image: str = "toolchain"
    # "always" runs the stage once its needs have finished, whatever their outcome: the gate
    # must judge failing tests instead of being skipped by them.
    run_if: str = "success"

    def to_dict(self) -> dict[str, Any]:
        """Serialise to the plan contract."""
        return {
            "name": self.name,
            "needs": list(self.needs),
            "run": [list(argv) for argv in self.run],
            "env": dict(self.env),
            "outputs": list(self.outputs),
            "image": self.image,
            "run_if": self.run_if,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedStage:
        """Read a stage back from its JSON form."""
        return cls(
            name=str(data["name"]),
            run=tuple(tuple(str(a) for a in argv) for argv in data["run"]),
            needs=tuple(str(n) for n in data.get("needs", ())),
            env={str(k): str(v) for k, v in dict(data.get("env", {})).items()},
            outputs=tuple(str(o) for o in data.get("outputs", ())),
            image=str(data.get("image", "toolchain")),
            run_if=str(data.get("run_if", "success")),
        )


@dataclass(frozen=True)
class Plan:
    """The stages of one pipeline for one environment, in a valid topological order."""

    pipeline: str
    env: str
    stages: tuple[PlannedStage, ...]

    def to_dict(self) -> dict[str, Any]:
        """Serialise to the plan contract (what ``pipelines plan --json`` prints)."""
        return {
            "version": PLAN_VERSION,
            "pipeline": self.pipeline,
            "env": self.env,
            "stages": [stage.to_dict() for stage in self.stages],
        }

    def to_json(self) -> str:
        """The plan as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Read a plan back from its JSON form, checking its DAG."""
        stages = tuple(PlannedStage.from_dict(s) for s in data["stages"])
        return cls(str(data["pipeline"]), str(data["env"]), tuple(topological_order(stages)))

    def stage(self, name: str) -> PlannedStage:
        """Return the named stage or raise a UsageError listing the stages."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        names = ", ".join(s.name for s in self.stages)
        raise UsageError(f"unknown stage {name!r}", hint=f"stages in this plan: {names}")

    def select(self, names: Sequence[str]) -> Plan:
        """Keep only the named stages; needs outside the selection count as satisfied."""
        if not names:
            return self
        wanted = {self.stage(name).name for name in names}
        kept = tuple(
            PlannedStage(**{**_fields(s), "needs": tuple(n for n in s.needs if n in wanted)})
            for s in self.stages
            if s.name in wanted
        )
        return Plan(self.pipeline, self.env, kept)


def _fields(stage: PlannedStage) -> dict[str, Any]:
    return {name: getattr(stage, name) for name in stage.__dataclass_fields__}


def stage_command(name: str, env: str) -> tuple[str, ...]:
    """The argv that runs one stage's work wherever the plan runs."""
    return ("pipelines", "stage", name, "--env", env)


def build_plan(
    config: PipelineConfig, env_name: str, flag_env: Mapping[str, str] | None = None
) -> Plan:
    """Compute the plan of ``config`` for one environment.

    ``flag_env`` holds the environment's feature flags, already evaluated (the plan has no
    clock of its own); every stage receives them.
    """
    environment = config.environment(env_name)
    base_env = {**(flag_env or {}), **environment.env, "PIPELINES_ENV": env_name}
    stages: list[PlannedStage] = []
    checks: list[str] = []
    if config.lint.enabled:
        stages.append(
            PlannedStage(
                "lint",
                (stage_command("lint", env_name),),
                env={**base_env, **config.lint.env},
                outputs=("reports/lint/result.json",),
            )
        )
        checks.append("lint")
    if config.security.enabled:
        stages.append(
            PlannedStage(
                "security",
                (stage_command("security", env_name),),
                env={**base_env, **config.security.env},
                outputs=("reports/security/result.json", "reports/security/security.sarif"),
            )
        )
        checks.append("security")
    if config.test.enabled:
        stages.append(
            PlannedStage(
                "test",
                (stage_command("test", env_name),),
                env={**base_env, **config.test.env},
                outputs=(
                    "reports/test/result.json",
                    "reports/test/junit.xml",
                    "reports/test/coverage.xml",
                    "reports/test/report-log.jsonl",
                ),
            )
        )
        checks.append("test")
    if environment.health.checks:
        stages.append(
            PlannedStage(
                "health",
                (stage_command("health", env_name),),
                env=base_env,
                outputs=("reports/health/result.json",),
            )
        )
        checks.append("health")
    stages.append(
        PlannedStage(
            "gate",
            (stage_command("gate", env_name),),
            needs=tuple(checks),
            env=base_env,
            outputs=("reports/gate/decision.json",),
            run_if="always",
        )
    )
    return Plan(config.name, env_name, tuple(topological_order(stages)))


def topological_order(stages: Iterable[PlannedStage]) -> list[PlannedStage]:
    """Order stages so that each comes after its needs; name the cycle if there is one."""
    by_name: dict[str, PlannedStage] = {}
    for stage in stages:
        if stage.name in by_name:
            raise ConfigError(f"stage {stage.name!r} is defined twice")
        if stage.run_if not in RUN_IF:
            raise ConfigError(f"stage {stage.name!r}: run_if must be one of {RUN_IF}")
        by_name[stage.name] = stage
    for stage in by_name.values():
        for need in stage.needs:
            if need not in by_name:
                raise ConfigError(
                    f"stage {stage.name!r} needs {need!r}, which is not a stage",
                    hint="stages: " + ", ".join(by_name),
                )
    ordered: list[PlannedStage] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for name in by_name:
        _visit(name, by_name, state, [], ordered)
    return ordered


def _visit(
    name: str,
    by_name: Mapping[str, PlannedStage],
    state: dict[str, int],
    path: list[str],
    ordered: list[PlannedStage],
) -> None:
    if state.get(name) == 2:
        return
    if state.get(name) == 1:
        cycle = [*path[path.index(name) :], name]
        raise ConfigError("the stages form a cycle: " + " -> ".join(cycle))
    state[name] = 1
    path.append(name)
    for need in by_name[name].needs:
        _visit(need, by_name, state, path, ordered)
    path.pop()
    state[name] = 2
    ordered.append(by_name[name])
