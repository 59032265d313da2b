"""``pipelines run``: the run operation, with a live stage table and a summary."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console

from pipelines.cli.display import LiveStages, run_summary, show
from pipelines.cli.github_out import publish_run
from pipelines.operations.run import RunOutcome, RunRequest, execute, prepare


def run(args: argparse.Namespace, out: Console) -> int:
    """Run the plan with a runner, write the run's artifacts, print a summary."""
    prepared = prepare(request_of(args))
    if args.json:
        outcome = execute(prepared)
        print(json.dumps(outcome.to_dict(), indent=2))
        return outcome.exit_code
    with LiveStages(out, [s.name for s in prepared.plan.stages]) as live:
        outcome = execute(prepared, live.on_event)
    render(out, outcome)
    # Failing tests, gate reasons and findings as GitHub annotations, after the run's output.
    publish_run(prepared.layout, [stage.name for stage in outcome.result.stages], os.environ)
    return outcome.exit_code


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
    for name, reason in outcome.plan.skipped:
        out.print(f"{name}: not run in {outcome.plan.env}: {reason}", highlight=False, markup=False)
    for note in outcome.exported:
        out.print(note, highlight=False, markup=False)
