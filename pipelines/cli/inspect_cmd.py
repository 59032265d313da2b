"""``pipelines validate`` and ``pipelines plan``: what the pipeline (and flags) files define."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from rich.console import Console

from pipelines.cli.common import project_config, project_dir
from pipelines.cli.planning import project_plan
from pipelines.config import PipelineConfig
from pipelines.deploy.settings import StrategyKind
from pipelines.errors import EXIT_OK, ConfigError, UsageError
from pipelines.flags.model import load_flags
from pipelines.plan import build_plan


def validate(args: argparse.Namespace, out: Console) -> int:
    """Check the pipeline file and say what it defines."""
    config = project_config(args)
    envs = ", ".join(sorted(config.environments))
    stages = (
        ", ".join(s.name for s in build_plan(config, "ci").stages)
        if "ci" in config.environments
        else "-"
    )
    where = (
        f"{config.source}: valid"
        if Path(config.source).is_file()
        else f"no {config.source}: the defaults apply"
    )
    out.print(
        f"{where} (pipeline {config.name!r}; environments: {envs}; stages: {stages})",
        highlight=False,
        markup=False,
    )
    flags_path = project_dir(args) / config.flags_file
    if flags_path.is_file():
        flags = load_flags(flags_path)
        unknown = sorted(
            {env for f in flags.flags.values() for env in f.environments} - set(config.environments)
        )
        if unknown:
            raise ConfigError(
                f"{flags_path}: environments {', '.join(unknown)} are not in {config.source}",
                hint="declare them under 'environments' in pipeline.yaml, or fix the name",
            )
        out.print(f"{flags_path}: valid ({len(flags.flags)} flags)", highlight=False, markup=False)
    _validate_kubernetes(config, out)
    return EXIT_OK


def _validate_kubernetes(config: PipelineConfig, out: Console) -> None:
    """The objects of every kubernetes target, against Kubernetes' schemas and our CRDs."""
    from pipelines.deploy.kubernetes import validate as kube
    from pipelines.deploy.kubernetes.render import render_environment

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
        out.print(
            f"environments.{name}: {len(objects)} Kubernetes objects valid for Kubernetes "
            f"{versions[0]}-{versions[-1]} and the Gateway API / Argo Rollouts fields we write",
            highlight=False,
            markup=False,
        )


def plan(args: argparse.Namespace, out: Console) -> int:
    """Print the plan of one environment."""
    the_plan = project_plan(args, args.env)
    if args.json:
        print(the_plan.to_json())
        return EXIT_OK
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
    for name, reason in the_plan.skipped:
        out.print(
            f"{name}: not run in environment {the_plan.env!r}: {reason}",
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
