"""``pipelines validate`` and ``pipelines plan``: what the pipeline (and flags) files define."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

from rich.console import Console

from pipelines.cli.common import project_config, project_dir, project_layout
from pipelines.cli.planning import project_plan
from pipelines.config.deploy import StrategyKind
from pipelines.config.pipeline import PipelineConfig
from pipelines.errors import EXIT_OK, ConfigError, UsageError, did_you_mean
from pipelines.flags.model import load_flags
from pipelines.operations.planning import runner_facts
from pipelines.operations.run import choose_runner
from pipelines.plan import build_plan


def validate(args: argparse.Namespace, out: Console) -> int:
    """Check the pipeline file (and the flags file, when there is one) and say what they define."""
    config = project_config(args)
    stage_names = (
        [s.name for s in build_plan(config, "ci").stages] if "ci" in config.environments else []
    )
    found = Path(config.source).is_file()
    flags_path = project_dir(args) / config.flags_file
    flags_count = None
    if flags_path.is_file():
        flags = load_flags(flags_path)
        unknown = sorted(
            {env for f in flags.flags.values() for env in f.environments} - set(config.environments)
        )
        if unknown:
            named = ", ".join(repr(env) for env in unknown)
            said = f"environment {named} is" if len(unknown) == 1 else f"environments {named} are"
            raise ConfigError(
                f"{flags_path}: {said} not in {config.source}",
                hint=did_you_mean(unknown[0], config.environments)
                + "declare it under 'environments' in pipeline.yaml, or fix the name",
            )
        flags_count = len(flags.flags)
    kubernetes = _validate_kubernetes(config)
    if args.json:
        print(
            json.dumps(
                {
                    "valid": True,
                    "pipeline_file": str(config.source),
                    "defaults_only": not found,
                    "pipeline": config.name,
                    "environments": sorted(config.environments),
                    "stages": stage_names,
                    "flags_file": str(flags_path) if flags_count is not None else None,
                    "flags": flags_count,
                    # Only for projects with kubernetes targets: their objects' checks.
                    **({"kubernetes": kubernetes} if kubernetes else {}),
                },
                indent=2,
            )
        )
        return EXIT_OK
    where = f"{config.source}: valid" if found else f"no {config.source}: the defaults apply"
    envs = ", ".join(sorted(config.environments))
    out.print(
        f"{where} (pipeline {config.name!r}; environments: {envs}; "
        f"stages: {', '.join(stage_names) or '-'})",
        highlight=False,
        markup=False,
    )
    if flags_count is not None:
        out.print(f"{flags_path}: valid ({flags_count} flags)", highlight=False, markup=False)
    for line in kubernetes:
        out.print(line, highlight=False, markup=False)
    return EXIT_OK


def _validate_kubernetes(config: PipelineConfig) -> list[str]:
    """The objects of every kubernetes target, against Kubernetes' schemas and our CRDs: a
    line per environment that has them (a ConfigError names the first problems)."""
    from pipelines.deploy.kubernetes import validate as kube
    from pipelines.deploy.kubernetes.render import render_environment

    lines = []
    for name in sorted(config.environments):
        environment = config.environment(name)
        objects = []
        for strategy in StrategyKind:  # --strategy may choose any of them
            try:
                objects += render_environment(config, environment, strategy=strategy)
            except UsageError as exc:
                if strategy is environment.deploy.strategy:
                    raise ConfigError(
                        f"{config.source}: environments.{name}: {exc.message}", hint=exc.hint
                    ) from exc
        if not objects:
            continue
        problems = kube.check(objects)
        if problems:
            raise ConfigError(
                f"{config.source}: environments.{name}: the Kubernetes objects are invalid: "
                + "; ".join(str(problem) for problem in problems[:5]),
                hint="fix the setting the field comes from (docs/kubernetes.md maps them)",
            )
        versions = kube.versions()
        lines.append(
            f"environments.{name}: {len(objects)} Kubernetes objects valid for Kubernetes "
            f"{versions[0]}-{versions[-1]} and the Gateway API / Argo Rollouts fields we write"
        )
    return lines


def plan(args: argparse.Namespace, out: Console) -> int:
    """Print the plan of one environment."""
    config = project_config(args)
    the_plan = project_plan(args, args.env, config)
    facts = None
    if args.runner is not None:
        choose_runner(args.runner)
        facts = runner_facts(args.runner, project_layout(args, config), os.environ)
    if args.json and facts is None:
        print(the_plan.to_json())
        return EXIT_OK
    if args.json and facts is not None:
        print(json.dumps({**json.loads(the_plan.to_json()), "runner": facts.to_dict()}, indent=2))
        return EXIT_OK
    if facts is not None:
        image = f", image {facts.image}" if facts.image else ""
        out.print(
            f"runner: {facts.runner}{image}, Python {facts.python}", highlight=False, markup=False
        )
    for stage in the_plan.stages:
        needs = f" (needs {', '.join(stage.needs)})" if stage.needs else ""
        limit = f", timeout {stage.timeout:g} s" if stage.timeout else ""
        out.print(f"{stage.name}{needs}{limit}", highlight=False, markup=False)
        for argv in stage.run:
            out.print(f"  $ {shlex.join(argv)}", highlight=False, markup=False)
        for note in stage.notes:
            out.print(f"    found: {note}", highlight=False, markup=False)
        for argv in stage.tools:
            out.print(f"    runs: {shlex.join(argv)}", highlight=False, markup=False)
    for skipped in the_plan.skipped:
        out.print(
            f"{skipped.name}: not run in environment {the_plan.env!r}: {skipped.reason}",
            highlight=False,
            markup=False,
        )
    if any("{files}" in argv for s in the_plan.stages for argv in s.tools):
        out.print(
            "{files}: the tracked Python files the pre-commit hook matches",
            highlight=False,
            markup=False,
        )
    if any("{python}" in argv for s in the_plan.stages for argv in s.tools):
        out.print(
            "{python}: the interpreter running pipelines where the stage runs "
            "(project_env.python names another)",
            highlight=False,
            markup=False,
        )
    if any("{env}" in " ".join(argv) for s in the_plan.stages for argv in s.tools):
        out.print(
            "{env}: the project's own virtualenv, built by the install stage",
            highlight=False,
            markup=False,
        )
    return EXIT_OK
