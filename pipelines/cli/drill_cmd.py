"""``pipelines drill rollback``: a timed rehearsal of an automatic rollback."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from pipelines import codec
from pipelines.cli.deploy_cmd import open_env
from pipelines.cli.display import add_row, show
from pipelines.config.deploy import StrategyKind
from pipelines.config.schema import parse_duration
from pipelines.deploy import operations
from pipelines.deploy.drill import DrillReport
from pipelines.deploy.records import DRILL_REPORT
from pipelines.errors import EXIT_FAILED, EXIT_OK


def drill(args: argparse.Namespace, out: Console) -> int:
    """Run the drill, keep its report with the evidence, exit 1 when it fails."""
    denv = open_env(args)
    sla = parse_duration(args.sla, "--sla")

    def log(line: str) -> None:
        if not args.json:
            out.print(line, markup=False, highlight=False)

    result = operations.drill(
        denv,
        strategy=StrategyKind(args.strategy) if args.strategy else None,
        fault=args.fault,
        sla_seconds=sla,
        rate=args.rate,
        log=log,
    )
    report, evidence = result.drill, result.evidence
    if args.json:
        answer = {
            **codec.to_builtins(report.file()),
            "evidence": str(evidence) if evidence else None,
        }
        print(json.dumps(answer, indent=2))
    else:
        show(out, _table(report))
        if evidence is not None:
            out.print(f"report: {evidence / DRILL_REPORT}", markup=False, highlight=False)
    return EXIT_OK if report.passed else EXIT_FAILED


def _table(report: DrillReport) -> Table:
    verdict = "passed" if report.passed else "FAILED"
    title = f"rollback drill ({report.env}, {report.strategy}, {report.fault}): {verdict}"
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value")
    detect, back = report.time_to_detect, report.time_to_rollback
    clients = report.load
    rows = [
        ("time to detect", _seconds(detect)),
        ("time to roll back", _seconds(back)),
        ("detect + roll back", _seconds(None if detect is None or back is None else detect + back)),
        ("SLA", _seconds(report.sla_seconds)),
        *(
            [
                ("client requests", str(clients.sent)),
                ("failed (injected fault)", str(len(clients.failed) - len(clients.lost))),
                ("lost (resets, router errors)", str(len(clients.lost))),
                *(
                    (f"  lost: {cause.replace('_', ' ')}", str(count))
                    for cause, count in clients.lost_by_cause().items()
                ),
            ]
            if report.clients_measured
            else [("client requests", "none sent (--rate 0): lost requests not measured")]
        ),
        ("final state serves", ", ".join(report.final_versions) or "-"),
    ]
    for name, value in rows:
        add_row(table, name, value)
    for problem in report.problems:
        add_row(table, "problem", problem)
    return table


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
