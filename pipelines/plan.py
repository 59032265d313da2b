"""The plan: the pipeline as data, computed from config by pure code.

Every runner (local, docker, dagger) executes the same plan, so its JSON form is the contract
between this package and the Dagger module in ``ci/``.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import msgspec

from pipelines import codec
from pipelines.config.pipeline import BUILTIN_STAGES, RUN_IF, PipelineConfig, StageSettings
from pipelines.errors import ConfigError, UsageError, did_you_mean
from pipelines.layout import COVERAGE, GATE_DECISION, JUNIT, REPORT_LOG, RESULT, SARIF, logical
from pipelines.project import commands
from pipelines.project.environment import InstallPlan, install_plan
from pipelines.project.facts import ProjectFacts

PLAN_VERSION: Final = 1
# How long a caching runner may reuse a stage's result (``PlannedStage.freshness``).
FRESHNESS = ("cached", "daily", "never")


class StageCycle(ConfigError):
    """The stages' needs form a cycle: ``cycle`` lists it, each stage needing the next, the
    first one again at the end."""

    def __init__(self, cycle: tuple[str, ...]) -> None:
        super().__init__("the stages form a cycle: " + " -> ".join(cycle))
        self.cycle = cycle


class PlannedStage(msgspec.Struct, frozen=True):
    """One node of the DAG: what to run (argv lists), after what, with which env and outputs."""

    name: str
    run: tuple[tuple[str, ...], ...]
    needs: tuple[str, ...] = ()
    env: dict[str, str] = {}
    outputs: tuple[str, ...] = ()
    image: str = "toolchain"
    # "always" runs the stage once its needs have finished, whatever their outcome: the gate
    # must judge failing tests instead of being skipped by them.
    run_if: str = "success"
    timeout: float | None = None
    # The argv of every tool the stage's command runs, for people to read ({env}: the
    # project's environment).
    tools: tuple[tuple[str, ...], ...] = ()
    # "read-write" only where a build backend writes into the tree (egg-info).
    source: str = "read-only"
    # How long a caching runner (Dagger) may reuse the stage's result: "cached" (while its
    # inputs are unchanged), "daily" (answers that change with the world, such as known
    # vulnerabilities) or "never" (live answers: health checks, deploys).
    freshness: str = "cached"
    # Variables the stage gets from the invoking environment beyond the defaults (names,
    # globs): a runner builds the stage's environment from these (pipelines.child_env).
    pass_env: tuple[str, ...] = ()
    # What the stage found in the project, for people to read (its linters and where each
    # version came from).
    notes: tuple[str, ...] = ()


class SkippedStage(msgspec.Struct, frozen=True):
    """A stage the environment does not run, and why."""

    name: str
    reason: str


class Plan(msgspec.Struct, frozen=True):
    """The stages of one pipeline for one environment, in a valid topological order: the
    plan contract (``plan_of`` reads it back)."""

    pipeline: str
    env: str
    stages: tuple[PlannedStage, ...]
    # Stages the environment does not run, with the reason: said, never skipped silently.
    skipped: tuple[SkippedStage, ...] = ()
    version: Literal[1] = PLAN_VERSION

    def to_json(self) -> str:
        """The plan as indented JSON (what ``pipelines plan --json`` prints)."""
        return codec.encode_indented(self)

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
            msgspec.structs.replace(s, needs=tuple(n for n in s.needs if n in wanted))
            for s in self.stages
            if s.name in wanted
        )
        return Plan(self.pipeline, self.env, kept, self.skipped)


def plan_of(data: object, where: str = "the plan") -> Plan:
    """A plan from its JSON form (already parsed), its DAG checked; DamagedFile naming
    ``where`` and the key when it is not a plan."""
    plan = codec.convert(data, Plan, where)
    return msgspec.structs.replace(plan, stages=tuple(topological_order(plan.stages)))


def stage_command(name: str, env: str, config_file: str | None = None) -> tuple[str, ...]:
    """The argv that runs one stage's work wherever the plan runs."""
    argv = ("pipelines", "stage", name, "--env", env)
    return (*argv, "--config", config_file) if config_file else argv


def build_plan(
    config: PipelineConfig,
    env_name: str,
    flag_env: Mapping[str, str] | None = None,
    *,
    facts: ProjectFacts | None = None,
    config_file: str | None = None,
    installer: str = "uv",
) -> Plan:
    """Compute the plan of ``config`` for one environment.

    ``flag_env`` holds the environment's feature flags, already evaluated, and ``facts`` what
    the project declares (both read by the caller: the plan has no I/O of its own). Every stage
    receives the flags; ``config_file`` reaches every stage's command.
    """
    facts = facts or ProjectFacts()
    environment = config.environment(env_name)
    base_env = {**(flag_env or {}), **environment.env, "PIPELINES_ENV": env_name}
    builder = _Builder(config, env_name, base_env, config_file)
    _check_skips(config, env_name)
    env_users = _project_env_users(config, facts)
    installs = bool(env_users) and config.stage("install").enabled
    if installs:
        plan = install_plan(config, facts)
        builder.add("install", tools=_install_tools(plan, installer), source="read-write")

    def after_install(stage: str) -> tuple[str, ...]:
        return ("install",) if installs and stage in env_users else ()

    builder.add(
        "lint",
        needs=after_install("lint"),
        outputs=(logical("lint", RESULT),),
        tools=tuple(tuple(a) for a in commands.lint_commands(config, facts).values()),
        notes=tuple(tool.describe() for tool in commands.lint_tools(config, facts)),
    )
    builder.add(
        "security",
        needs=after_install("security"),
        outputs=(logical("security", RESULT), logical("security", SARIF)),
        tools=tuple(tuple(a) for a in commands.security_commands(config, facts).values()),
        # pip-audit asks a vulnerability service: its answer changes without any input.
        freshness="daily" if "pip-audit" in config.security.scanners else "cached",
    )
    builder.add(
        "test",
        needs=after_install("test"),
        outputs=(
            logical("test", RESULT),
            logical("test", JUNIT),
            logical("test", COVERAGE),
            logical("test", REPORT_LOG),
        ),
        tools=(tuple(commands.pytest_command(config, facts)),),
    )
    if environment.health.checks:
        builder.add("health", outputs=(logical("health", RESULT),), freshness="never")
    for custom in config.custom:
        python = commands.ENV_PYTHON if custom.python == "project" else "python"
        builder.add(
            custom.name,
            needs=after_install(custom.name),
            run_if=custom.run_if,
            tools=tuple(tuple(commands.python_argv(argv, python)) for argv in custom.run),
        )
    builder.add_gate()
    return Plan(
        config.name,
        env_name,
        tuple(builder.ordered()),
        tuple(
            SkippedStage(name, reason) for name, reason in sorted(environment.skip_stages.items())
        ),
    )


def _check_skips(config: PipelineConfig, env_name: str) -> None:
    """Every stage an environment skips must exist (a typo must not run it after all)."""
    names = set(BUILTIN_STAGES) | {c.name for c in config.custom}
    for name in config.environment(env_name).skip_stages:
        if name not in names:
            raise ConfigError(
                f"{config.source}: environments.{env_name}.skip_stages: {name!r} is not a stage",
                hint=did_you_mean(name, names) + "stages: " + ", ".join(sorted(names)),
            )


def _install_tools(plan: InstallPlan, installer: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(argv) for argv in plan.commands_shown(installer))


def _project_env_users(config: PipelineConfig, facts: ProjectFacts) -> set[str]:
    """The stages that run the project's code and so need its environment."""
    if not config.project_env.enabled:
        return set()
    users = {c.name for c in config.custom if c.python == "project"}
    if config.stage("test").enabled:
        users.add("test")
    if commands.lint_uses_project_env(config, facts):
        users.add("lint")
    if commands.pip_audit_uses_project_env(config):
        users.add("security")
    return {u for u in users if config.stage(u).enabled}


@dataclass
class _Builder:
    """Collects the enabled stages with their needs, env and timeouts from pipeline.yaml."""

    config: PipelineConfig
    env_name: str
    base_env: Mapping[str, str]
    config_file: str | None
    stages: list[PlannedStage] = field(default_factory=list)

    def add(
        self,
        name: str,
        *,
        needs: tuple[str, ...] = (),
        outputs: tuple[str, ...] = (),
        tools: tuple[tuple[str, ...], ...] = (),
        run_if: str = "success",
        source: str = "read-only",
        freshness: str = "cached",
        notes: tuple[str, ...] = (),
    ) -> None:
        settings = self.config.stage(name)
        if not settings.enabled or name in self.config.environment(self.env_name).skip_stages:
            return
        self.stages.append(
            PlannedStage(
                name,
                (stage_command(name, self.env_name, self.config_file),),
                needs=tuple(dict.fromkeys((*needs, *settings.needs))),
                env={**self.base_env, **settings.env},
                pass_env=self._pass_env(settings),
                outputs=outputs,
                run_if=run_if,
                timeout=settings.timeout,
                tools=tools,
                source=source,
                freshness=freshness,
                notes=notes,
            )
        )

    def _pass_env(self, settings: StageSettings) -> tuple[str, ...]:
        environment = self.config.environment(self.env_name)
        return tuple(dict.fromkeys((*environment.pass_env, *settings.pass_env)))

    def add_gate(self) -> None:
        """The gate judges every stage but those that come after it."""
        settings = self.config.stage("gate")
        if not settings.enabled or "gate" in self.config.environment(self.env_name).skip_stages:
            return
        after_gate = _dependents("gate", self.stages)
        needs = settings.needs or tuple(
            s.name for s in self.stages if s.name not in after_gate and s.name != "install"
        )
        self.stages.append(
            PlannedStage(
                "gate",
                (stage_command("gate", self.env_name, self.config_file),),
                needs=needs,
                env={**self.base_env, **settings.env},
                pass_env=self._pass_env(settings),
                outputs=(GATE_DECISION,),
                run_if="always",
                timeout=settings.timeout,
            )
        )

    def ordered(self) -> list[PlannedStage]:
        """The stages in DAG order; needs of disabled stages are dropped, unknown ones named."""
        known = {s.name for s in self.stages}
        disabled = {n for n in self.config.stage_names if not self.config.stage(n).enabled}
        disabled |= set(self.config.environment(self.env_name).skip_stages)
        kept = []
        for stage in self.stages:
            for need in stage.needs:
                if need not in known and need not in disabled:
                    raise self._error(stage.name, f"needs {need!r}, which is not a stage", known)
            needs = tuple(n for n in stage.needs if n in known)
            kept.append(msgspec.structs.replace(stage, needs=needs))
        try:
            return topological_order(kept)
        except StageCycle as exc:
            raise self._error(exc.cycle[0], exc.message, known) from exc

    def _error(self, stage: str, message: str, known: set[str]) -> ConfigError:
        line = self.config.lines.get(stage)
        where = f"{self.config.source}:{line}" if line else self.config.source
        return ConfigError(
            f"{where}: stages.{stage}.needs: {message}", hint="stages: " + ", ".join(sorted(known))
        )


def _dependents(name: str, stages: Sequence[PlannedStage]) -> set[str]:
    """Every stage that needs ``name``, directly or through others."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for stage in stages:
            if stage.name not in found and ({name} | found) & set(stage.needs):
                found.add(stage.name)
                changed = True
    return found


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
    sorter = graphlib.TopologicalSorter({name: s.needs for name, s in by_name.items()})
    try:
        return [by_name[name] for name in sorter.static_order()]
    except graphlib.CycleError as exc:
        # graphlib lists each node before the one that needs it: the message reads as needs.
        raise StageCycle(tuple(reversed(exc.args[1]))) from None
