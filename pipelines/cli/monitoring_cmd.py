"""``pipelines monitoring validate|render|health``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines import codec
from pipelines.cli.common import project_config, project_dir
from pipelines.cli.display import add_row, show
from pipelines.cli.health_cmd import report_table
from pipelines.errors import EXIT_FAILED, EXIT_OK
from pipelines.health.run import run_health
from pipelines.monitoring.stack import render, stack_checks, validate


def monitoring(args: argparse.Namespace, out: Console) -> int:
    """Dispatch the monitoring actions."""
    config = project_config(args)
    chosen = getattr(args, "dir", None)  # `health` has no --dir
    config_dir = Path(chosen) if chosen else project_dir(args) / config.monitoring.config_dir
    if args.monitoring_command == "validate":
        findings = validate(config_dir)
        if args.json:
            print(codec.encode_indented(findings))
        else:
            table = Table(title=f"monitoring config ({config_dir})")
            for column in ("check", "result", "detail"):
                table.add_column(column)
            for finding in findings:
                mark = Text("ok", "green") if finding.ok else Text("failed", "bold red")
                add_row(table, finding.check, mark, finding.detail)
            show(out, table)
        return EXIT_OK if all(f.ok for f in findings) else EXIT_FAILED
    if args.monitoring_command == "render":
        target = render(config_dir, Path(args.out), os.environ)
        out.print(f"wrote {target} (mode 600)", highlight=False, markup=False)
        return EXIT_OK
    report = run_health("monitoring", stack_checks(config.monitoring))
    if args.json:
        print(json.dumps(msgspec.to_builtins(report.details()), indent=2))
    else:
        show(out, report_table(report.details()))
    return EXIT_FAILED if report.critical_failures else EXIT_OK
