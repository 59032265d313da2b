"""``pipelines health``: the environment's health checks, as a table or JSON."""

from __future__ import annotations

import argparse
import json

import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines.cli.common import project_config, stage_context
from pipelines.cli.display import add_row, show
from pipelines.config.health import HealthDetails
from pipelines.errors import EXIT_FAILED, EXIT_OK, UsageError
from pipelines.stages.health import run as run_stage

STYLE = {"passed": "green", "failed": "bold red", "timeout": "yellow"}


def health(args: argparse.Namespace, out: Console) -> int:
    """Run the checks, write reports/health/result.json; exit 1 when a critical check fails."""
    config = project_config(args)
    environment = config.environment(args.env)
    if not environment.health.checks:
        raise UsageError(
            f"{config.source}: environment {args.env!r} declares no health checks",
            hint=f"add environments.{args.env}.health.checks to pipeline.yaml",
        )
    result = run_stage(stage_context(args, config, args.env))
    report = result.details
    if args.json:
        print(json.dumps(msgspec.to_builtins(report), indent=2))
    else:
        show(out, report_table(report))
    return EXIT_FAILED if report.critical_failures else EXIT_OK


def report_table(report: HealthDetails) -> Table:
    """The checks as a table."""
    table = Table(title=f"health ({report.env}): {report.status}")
    for column in ("check", "kind", "status", "critical", "attempts", "time", "detail"):
        table.add_column(column)
    for check in report.checks:
        add_row(
            table,
            check.name,
            check.kind,
            Text(check.status.value, style=STYLE[check.status.value]),
            "yes" if check.critical else "no",
            str(check.attempts),
            f"{check.duration_ms:.0f} ms",
            check.detail,
        )
    return table
