"""``pipelines stage NAME``: one stage's work in this process (what every runner runs).

A stage process starts once per stage and run, so it prints plain lines (the gate's table
too) and never loads rich.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from pipelines import safe_text
from pipelines.cli.common import project_config, stage_context
from pipelines.errors import EXIT_INTERRUPTED, UsageError, did_you_mean
from pipelines.runners.waits import GO, WAITS
from pipelines.stages import STAGES, load_stage
from pipelines.stages.base import StageResult

if TYPE_CHECKING:  # a stage's command line is read without argparse (stage_argv.py)
    import argparse


def _released(name: str) -> bool:
    """An early start (runners/commands.py): load the stage's code, then wait for the
    runner's line before reading anything. False when stdin ends without it."""
    if name in STAGES:
        load_stage(name)
    line = sys.stdin.buffer.readline()
    # Nothing this process starts may read the runner's pipe.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return line == GO


def _say(line: str) -> None:
    # Data from tools and files: control characters show escaped, as on every console.
    print(safe_text.lines(line), flush=True)


def run_stage(args: argparse.Namespace) -> int:
    """Run one stage's work in this process (what every runner's command does)."""
    if os.environ.pop(WAITS, None) == "1" and not _released(args.name):
        return EXIT_INTERRUPTED  # the runner let it go unreleased: skipped or cancelled
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
        _say(f"{where}: [{finding.tool} {finding.rule}] {finding.message}")
    if decision is not None:
        # Only the gate shows a decision, as plain text (its log is a file, not a terminal).
        from pipelines.report.gate_rows import plain
        from pipelines.report.workflow_commands import in_github_actions

        print(plain(decision), flush=True)
        if in_github_actions(os.environ):
            from pipelines.cli.guard import emit
            from pipelines.report import github

            emit(github.publish(decision, os.environ))
    _say(f"{result.stage}: {result.status.value}: {result.summary}")
    return result.exit_code
