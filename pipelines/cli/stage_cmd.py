"""``pipelines stage NAME``: one stage's work in this process (what every runner runs)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from rich.console import Console

from pipelines.cli.common import project_config, stage_context
from pipelines.errors import UsageError, did_you_mean
from pipelines.stages import STAGES, load_stage
from pipelines.stages.base import StageResult


def stage(args: argparse.Namespace, out: Console) -> int:
    """Run one stage's work in this process (what every runner's command does)."""
    config = project_config(args)
    custom = {stage.name: stage for stage in config.custom}
    if args.name not in STAGES and args.name not in custom:
        names = [*STAGES, *custom]
        raise UsageError(
            f"unknown stage {args.name!r}",
            hint=did_you_mean(args.name, names) + "stages: " + ", ".join(names),
        )
    context = stage_context(args, config, args.env)
    decision = None
    result: StageResult[Any]
    if args.name in custom:
        from pipelines.stages.custom import run_custom

        result = run_custom(context, custom[args.name])
    elif args.name == "gate":
        from pipelines.stages.gate import judge

        result, decision = judge(context)
    else:
        result = load_stage(args.name)(context)
    for finding in result.findings[:50]:
        where = f"{finding.file}:{finding.line}" if finding.line else finding.file
        out.print(
            f"{where}: [{finding.tool} {finding.rule}] {finding.message}",
            highlight=False,
            markup=False,
        )
    if decision is not None:
        # Only the gate shows a decision: other stages never import the tables.
        from pipelines.cli.display import show
        from pipelines.cli.guard import emit
        from pipelines.report import github
        from pipelines.report.summary import gate_table

        show(out, gate_table(decision))
        emit(github.publish(decision, os.environ))
    out.print(
        f"{result.stage}: {result.status.value}: {result.summary}", highlight=False, markup=False
    )
    return result.exit_code
