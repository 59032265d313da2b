"""``pipelines run``: the run operation, with a live stage table and a summary."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from pipelines import codec
from pipelines.cli.display import LiveStages, run_summary, show
from pipelines.cli.follow import LogFollower
from pipelines.layout import LOG
from pipelines.operations.run import PreparedRun, RunOutcome, RunRequest, execute, prepare
from pipelines.report.workflow_commands import in_github_actions
from pipelines.runners.results import FINISHED, RunStatus


def run(args: argparse.Namespace, out: Console) -> int:
    """Run the plan with a runner, write the run's artifacts, print a summary."""
    prepared = prepare(request_of(args))
    if args.json:
        outcome = execute(prepared)
        print(codec.encode_indented(outcome.report()))
        return outcome.exit_code
    names = [s.name for s in prepared.plan.stages]
    if args.quiet:
        # Only the summary: no line per stage change, no heartbeat.
        outcome = execute(prepared)
    elif args.verbose:
        outcome = _streamed(prepared, names, out)
    else:
        with LiveStages(out, names) as live:
            outcome = execute(prepared, live.on_event)
    render(out, outcome)
    # Failing tests, gate reasons and findings as GitHub annotations, after the run's output
    # (the report modules load only there: elsewhere they would delay the first stage).
    if in_github_actions(os.environ):
        from pipelines.cli.github_out import publish_run

        publish_run(prepared.layout, [stage.name for stage in outcome.result.stages], os.environ)
    return outcome.exit_code


def _streamed(prepared: PreparedRun, names: list[str], out: Console) -> RunOutcome:
    """The run with every stage's tool output printed as it comes (no redrawn table)."""
    logs = {name: prepared.layout.stage(name) / LOG for name in names}
    with LogFollower(out, logs) as follower, LiveStages(out, names, animate=False) as live:

        def on_event(name: str, status: RunStatus) -> None:
            if status is RunStatus.RUNNING:
                follower.follow(name)
            elif status in FINISHED:
                follower.finish(name)
            live.on_event(name, status)

        return execute(prepared, on_event)


def request_of(args: argparse.Namespace) -> RunRequest:
    """The command line as a run request."""
    return RunRequest(
        project=Path(args.project),
        env=args.env,
        config_file=Path(args.config) if args.config else None,
        stages=tuple(args.stages),
        runner=args.runner,
        fail_fast=args.fail_fast,
        reports=Path(args.reports) if args.reports else None,
        artifacts=Path(args.artifacts) if args.artifacts else None,
    )


def render(out: Console, outcome: RunOutcome) -> None:
    """The summary table, where the artifacts are, what did not run and what was exported."""
    show(out, run_summary(outcome.result, outcome.notes))
    out.print(f"artifacts: {outcome.artifacts}", highlight=False, markup=False)
    for skipped in outcome.plan.skipped:
        line = f"{skipped.name}: not run in {outcome.plan.env}: {skipped.reason}"
        out.print(line, highlight=False, markup=False)
    for note in outcome.exported:
        out.print(note, highlight=False, markup=False)
