"""Each command as a readable list of steps: load config, plan, run, summarise, exit code."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console

from pipelines import artifacts
from pipelines.cli.display import LiveStages, decision_table, run_summary
from pipelines.config import PipelineConfig, load_config
from pipelines.errors import EXIT_FAILED, EXIT_OK, UsageError
from pipelines.plan import Plan, build_plan
from pipelines.reports import github
from pipelines.runners import RUNNERS
from pipelines.stages import STAGES
from pipelines.stages import gate as gate_stage
from pipelines.stages.base import StageContext


def dispatch(args: argparse.Namespace, out: Console) -> int:
    """Run the chosen command."""
    handler = {
        "validate": validate,
        "plan": plan,
        "run": run,
        "stage": stage,
        "gate": gate,
    }[args.command]
    return handler(args, out)


def _project(args: argparse.Namespace) -> Path:
    project = Path(args.project)
    if not project.is_dir():
        raise UsageError(f"{project}: not a directory", hint="pass the project with -C DIR")
    return project.resolve()


def _config(args: argparse.Namespace) -> PipelineConfig:
    return load_config(_project(args), Path(args.config) if args.config else None)


def validate(args: argparse.Namespace, out: Console) -> int:
    """Check the pipeline file and say what it defines."""
    config = _config(args)
    envs = ", ".join(sorted(config.environments))
    stages = (
        ", ".join(s.name for s in build_plan(config, "ci").stages)
        if "ci" in config.environments
        else "-"
    )
    out.print(
        f"{config.source}: valid (pipeline {config.name!r}; environments: {envs}; "
        f"stages: {stages})",
        highlight=False,
    )
    return EXIT_OK


def plan(args: argparse.Namespace, out: Console) -> int:
    """Print the plan of one environment."""
    the_plan = build_plan(_config(args), args.env)
    if args.json:
        print(the_plan.to_json())
        return EXIT_OK
    for stage in the_plan.stages:
        needs = f" (needs {', '.join(stage.needs)})" if stage.needs else ""
        out.print(f"[bold]{stage.name}[/]{needs}")
        for argv in stage.run:
            out.print(f"  $ {' '.join(argv)}", highlight=False)
    return EXIT_OK


def run(args: argparse.Namespace, out: Console) -> int:
    """Run the plan with a runner, write the run's artifacts, print a summary."""
    project = _project(args)
    the_plan: Plan = build_plan(_config(args), args.env).select(args.stages)
    if args.runner not in RUNNERS:
        raise UsageError(
            f"unknown runner {args.runner!r}", hint="runners: " + ", ".join(sorted(RUNNERS))
        )
    runner = RUNNERS[args.runner](project)
    identity = artifacts.RunIdentity.new(project, os.environ)
    if args.json:
        result = runner.run(the_plan, fail_fast=args.fail_fast)
    else:
        with LiveStages(out, [s.name for s in the_plan.stages]) as live:
            result = runner.run(the_plan, fail_fast=args.fail_fast, on_event=live.on_event)
    target = artifacts.write_run_artifacts(project, identity, the_plan, result)
    if args.json:
        print(json.dumps({**result.to_dict(), "artifacts": str(target)}, indent=2))
    else:
        out.print(run_summary(result))
        out.print(f"artifacts: {target}", highlight=False)
    return EXIT_OK if result.ok else EXIT_FAILED


def stage(args: argparse.Namespace, out: Console) -> int:
    """Run one stage's work in this process (what every runner's command does)."""
    if args.name not in STAGES:
        raise UsageError(f"unknown stage {args.name!r}", hint="stages: " + ", ".join(STAGES))
    config = _config(args)
    context = StageContext(_project(args), config, config.environment(args.env).name)
    result = STAGES[args.name](context)
    for finding in result.findings[:50]:
        where = f"{finding.file}:{finding.line}" if finding.line else finding.file
        out.print(f"{where}: [{finding.tool} {finding.rule}] {finding.message}", highlight=False)
    if args.name == "gate":
        decision = result.details["decision"]
        out.print(decision_table(decision))
        for line in github.publish(decision, os.environ):
            print(line)
    out.print(f"{result.stage}: {result.status.value}: {result.summary}", highlight=False)
    return result.exit_code


def gate(args: argparse.Namespace, out: Console) -> int:
    """Decide from reports (explicit paths, or the test stage's defaults)."""
    config = _config(args)
    project = _project(args)
    context = StageContext(project, config, config.environment(args.env).name)
    decision = gate_stage.decide(
        context,
        junit=[Path(p) for p in args.junit],
        coverage=Path(args.coverage) if args.coverage else None,
        reportlog=[Path(p) for p in args.reportlog],
    )
    gate_stage.write_decision(context, decision)
    data = decision.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        out.print(decision_table(data))
        tests = data["tests"]
        if tests:
            out.print(
                f"tests: {tests['passed']} passed, {tests['failed']} failed, "
                f"{tests['errors']} errors, {tests['skipped']} skipped, "
                f"{tests['flaky']} flaky",
                highlight=False,
            )
        for reason in decision.reasons:
            out.print(f"[red]closed:[/] {reason}", highlight=False)
    for line in github.publish(data, os.environ):
        print(line)
    return EXIT_OK if data["status"] == "open" else EXIT_FAILED
