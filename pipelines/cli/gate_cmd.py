"""``pipelines gate``: decide from reports whether a deploy may proceed."""

from __future__ import annotations

import argparse
import json
import os

from rich.console import Console
from rich.markup import escape

from pipelines import codec
from pipelines.cli.common import project_config, project_dir, stage_context
from pipelines.cli.display import show
from pipelines.cli.guard import emit
from pipelines.errors import EXIT_FAILED, EXIT_OK
from pipelines.gate.rules import GateStatus
from pipelines.report import github
from pipelines.report.summary import gate_table
from pipelines.stages import gate as gate_stage


def gate(args: argparse.Namespace, out: Console) -> int:
    """Decide from reports (explicit paths, or the test stage's defaults)."""
    config = project_config(args)
    project = project_dir(args)
    context = stage_context(args, config, args.env)
    decision = gate_stage.decide(
        context,
        # Relative paths are the project's (-C DIR), like every other path.
        junit=[project / p for p in args.junit],
        coverage=project / args.coverage if args.coverage else None,
        reportlog=[project / p for p in args.reportlog],
    )
    gate_stage.write_decision(context, decision)
    if args.json:
        print(json.dumps(codec.to_builtins(decision), indent=2))
    else:
        show(out, gate_table(decision))
        tests = decision.evidence.tests
        if tests:
            out.print(
                f"tests: {tests.passed} passed, {tests.failed} failed, {tests.errors} errors, "
                f"{tests.skipped} skipped, {tests.xfailed} xfailed, {tests.flaky} flaky",
                highlight=False,
            )
        for reason in decision.reasons:
            out.print(f"[red]closed:[/] {escape(reason)}", highlight=False)
    emit(github.publish(decision, os.environ))
    return EXIT_OK if decision.status is GateStatus.OPEN else EXIT_FAILED
