"""``pipelines drill rollback``: a timed rehearsal of an automatic rollback."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from pipelines import atomic
from pipelines.cli.deploy_cmd import open_env
from pipelines.cli.display import add_row, show
from pipelines.deploy.drill import DrillReport, run_drill
from pipelines.deploy.outcome import record
from pipelines.deploy.settings import StrategyKind
from pipelines.errors import EXIT_FAILED, EXIT_OK, UsageError
from pipelines.schema import parse_duration

DRILL_REPORT = "drill-report.json"


def drill(args: argparse.Namespace, out: Console) -> int:
    """Run the drill, keep its report with the evidence, exit 1 when it fails."""
    denv = open_env(args)
    strategy = StrategyKind(args.strategy) if args.strategy else denv.environment.deploy.strategy
    sla = parse_duration(args.sla, "--sla")
    if args.rate <= 0:
        raise UsageError(f"--rate must be above 0, got {args.rate:g}")

    def log(line: str) -> None:
        if not args.json:
            out.print(line, markup=False, highlight=False)

    report = run_drill(
        denv, strategy=strategy, fault=args.fault, sla_seconds=sla, rate=args.rate, log=log
    )
    data = report.to_dict()
    evidence = None
    if report.deploy is not None:
        recorded = record(
            denv,
            report.deploy,
            action="drill",
            approval={"required": False},
            gate={"drill": True},
            extra={"drill_passed": report.passed},
            export_metrics=False,
        )
        evidence = recorded.evidence
        atomic.write_json(evidence / DRILL_REPORT, data)
    if args.json:
        print(json.dumps({**data, "evidence": str(evidence) if evidence else None}, indent=2))
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
        ("client requests", str(clients.sent)),
        ("failed (injected fault)", str(len(clients.failed) - len(clients.lost))),
        ("lost (resets, router errors)", str(len(clients.lost))),
        *(
            (f"  lost: {cause.replace('_', ' ')}", str(count))
            for cause, count in clients.lost_by_cause().items()
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
