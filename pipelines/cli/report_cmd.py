"""``pipelines report html|summary|dora|compliance``, ``pipelines artifacts prune`` and
``pipelines perf compare``: what the history of runs and deploys lets people see and prove."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines import atomic, codec, containment
from pipelines.audit import DEPLOY_AUDIT, AuditLog, audit_key
from pipelines.cli.common import project_config, project_dir, project_layout
from pipelines.cli.display import add_row, show
from pipelines.config.schema import parse_duration
from pipelines.errors import EXIT_FAILED, EXIT_OK, ReportError, UsageError, did_you_mean
from pipelines.gate.perf import (
    COMPARISON,
    Change,
    ComparisonFile,
    compare,
    read_benchmarks,
    slowdowns,
)
from pipelines.gate.rules import GateDecision
from pipelines.layout import SARIF
from pipelines.readers.findings import Finding, read_sarif
from pipelines.report import compliance as pack
from pipelines.report.dora import DoraReport, commit_times, dora
from pipelines.report.history import History, RunRecord, read_history
from pipelines.report.html import render
from pipelines.report.prune import plan_prune, prune
from pipelines.report.summary import (
    DeployLine,
    StageLine,
    Summary,
    markdown,
    summary_of,
    tables,
)
from pipelines.safe_text import terminal


def report(args: argparse.Namespace, out: Console) -> int:
    """Run ``report KIND`` (a kind of ``REPORTS``)."""
    return REPORTS[args.report_command](args, out)


def _github(args: argparse.Namespace, out: Console) -> int:
    from pipelines.cli.github_out import report_github

    return report_github(args, out)


def _load(args: argparse.Namespace) -> tuple[History, Path, str]:
    config = project_config(args)
    layout = project_layout(args, config)
    return read_history(layout.artifacts), layout.artifacts, config.name


def _windowed(args: argparse.Namespace, now: datetime) -> tuple[History, Path, str, datetime]:
    """The history, for an environment the pipeline declares, and the window's start."""
    start = now - timedelta(seconds=parse_duration(args.since, "--since"))
    config = project_config(args)
    if args.env not in config.environments:
        names = sorted(config.environments)
        raise UsageError(
            f"--env: {args.env!r} is not an environment of {config.source}",
            hint=f"{did_you_mean(args.env, names)}environments: {', '.join(names)}",
        )
    history, artifacts, name = _load(args)
    return history, artifacts, name, start


def _run(history: History, run_id: str | None) -> RunRecord | None:
    run = history.run(run_id)
    if run_id is not None and run is None:
        known = ", ".join(r.run_id for r in history.runs[-5:]) or "none"
        raise UsageError(f"no run {run_id!r} in the artifacts", hint=f"recent runs: {known}")
    return run


def _html(args: argparse.Namespace, out: Console) -> int:
    history, _, name = _load(args)
    # A deploy's or drill's run id (the directory `drill` prints) is a report of its own.
    deploy = next((d for d in history.deploys if d.run_id == args.run), None)
    if args.run is not None and deploy is None and history.run(args.run) is None:
        ids = [r.run_id for r in history.runs[-5:]] + [d.run_id for d in history.deploys[-5:]]
        known = ", ".join(ids) or "none"
        raise UsageError(
            f"no run, deploy or drill {args.run!r} in the artifacts", hint=f"recent: {known}"
        )
    run = None if deploy is not None else _run(history, args.run)
    layout = project_layout(args, project_config(args))
    # The reports directory holds the newest run's findings only.
    newest = run is not None and history.runs and run is history.runs[-1]
    findings = _findings(layout.reports, f"security/{SARIF}") if newest else []
    text = render(
        history,
        run,
        summary_of(history, run),
        pipeline=name,
        findings=findings,
        deploy=deploy,
    )
    target = Path(args.out) if args.out else layout.reports
    path = target if target.suffix == ".html" else target / "report.html"
    atomic.writable_dir(path.parent, "the report")
    atomic.write_text(path, text)
    out.print(f"wrote {path}", markup=False, highlight=False)
    return EXIT_OK


def _findings(root: Path, relative: str) -> list[Finding]:
    # Reached without a link a stage left: a host file is never shown in the report.
    if not containment.is_regular(root, relative):
        return []
    try:
        return read_sarif(root / relative)
    except (ReportError, AttributeError, TypeError, ValueError):
        return []  # the gate decision's counts still stand; the list only names them


def _summary(args: argparse.Namespace, out: Console) -> int:
    if args.json and args.markdown:
        raise UsageError("--json and --markdown ask for two formats", hint="choose one")
    history, _, _ = _load(args)
    view = summary_of(history, _run(history, args.run))
    if args.json:
        print(json.dumps(codec.to_builtins(_summary_json(view)), indent=2))
        return EXIT_OK
    if args.markdown:
        print(markdown(view), end="")
        return EXIT_OK
    out.print(terminal(view.title), markup=False, highlight=False)
    for table in tables(view):
        show(out, table)
    return EXIT_OK


class _SummaryReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``report summary --json`` prints."""

    title: str
    gate: GateDecision | None
    findings: dict[str, int]  # by severity, most severe first
    stages: tuple[StageLine, ...]
    deploys: tuple[DeployLine, ...]


def _summary_json(view: Summary) -> _SummaryReport:
    return _SummaryReport(
        title=view.title,
        gate=view.decision,
        findings=dict(view.findings()),
        stages=view.stages,
        deploys=view.deploys,
    )


def _dora(args: argparse.Namespace, out: Console) -> int:
    now = datetime.now(UTC)
    history, _, name, start = _windowed(args, now)
    times = commit_times(project_dir(args), history)
    metrics = dora(history, args.env, since=start, now=now, commit_time=times.get)
    if args.json:
        print(codec.encode_indented(DoraReport.of(args.env, start, metrics)))
        return EXIT_OK
    table = Table(title=f"DORA metrics of {name} ({args.env}, last {args.since})")
    for column in ("metric", "value", "bucket", "from"):
        table.add_column(column)
    for metric in metrics:
        value = "—" if metric.value is None else f"{metric.value:.2f} {metric.unit}"
        add_row(table, metric.name, value, Text(metric.bucket), metric.basis)
    show(out, table)
    return EXIT_OK


def _compliance(args: argparse.Namespace, out: Console) -> int:
    now = datetime.now(UTC)
    history, artifacts, _, start = _windowed(args, now)
    log_path = artifacts / DEPLOY_AUDIT
    verification = (
        AuditLog(log_path, audit_key(os.environ)).verify() if log_path.is_file() else None
    )
    records = pack.collect(history.since(start), artifacts, args.env, verification)
    period = f"{start.date()} to {now.date()}"
    target = (
        Path(args.out)
        if args.out
        else project_layout(args, project_config(args)).reports / "compliance"
    )
    atomic.writable_dir(target, "the evidence pack")
    atomic.write_text(target / "compliance.md", pack.markdown(records, args.env, period))
    atomic.write_text(target / "compliance.html", pack.html(records, args.env, period))
    done = pack.summary(records, target)
    if args.json:
        print(json.dumps(codec.to_builtins(done), indent=2))
    else:
        out.print(
            f"{done.changes} changes to {args.env}, {done.complete} with complete "
            f"evidence; wrote {target}/compliance.md and .html",
            markup=False,
            highlight=False,
        )
    return EXIT_OK


# Every ``pipelines report KIND`` by its name (its arguments: ``cli._report_commands``).
REPORTS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "html": _html,
    "summary": _summary,
    "github": _github,
    "dora": _dora,
    "compliance": _compliance,
}


def artifacts_prune(args: argparse.Namespace, out: Console) -> int:
    """``pipelines artifacts prune [--dry-run]``: run directories past their retention, and
    each environment's release snapshots beyond ``deploy.keep_releases``."""
    # The deploy side loads only for this command, not for every report.
    from pipelines.deploy.environment import DeployEnv
    from pipelines.deploy.operations import prune_snapshots

    config = project_config(args)
    layout = project_layout(args, config)
    candidates = plan_prune(layout.artifacts, config.retention, datetime.now(UTC))
    expired = [c for c in candidates if c.expired]
    gone = [] if args.dry_run else prune(candidates)
    project = project_dir(args)
    snapshots = [
        prune_snapshots(
            DeployEnv.open(project, config, name, layout, os.environ),
            dry_run=args.dry_run,
            pid=os.getpid(),
        )
        for name in config.environments
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": args.dry_run,
                    "expired": [str(c.path) for c in expired],
                    "removed": [str(p) for p in gone],
                    "kept": len(candidates) - len(expired),
                    "releases": {
                        s.env: {"surplus": [str(p) for p in s.releases], "busy": s.busy}
                        for s in snapshots
                    },
                },
                indent=2,
            )
        )
        return EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    table = Table(title=f"artifacts {verb}: {len(expired)} of {len(candidates)}")
    for column in ("run", "kind", "env", "age", "kept for"):
        table.add_column(column)
    for c in expired:
        add_row(
            table,
            c.path.name,
            c.kind.value,
            c.env or "—",
            f"{c.age / 86400:.1f} d",
            f"{c.keep_for / 86400:g} d",
        )
    for pruned in snapshots:
        keep = config.environment(pruned.env).deploy.keep_releases
        for release in pruned.releases:
            add_row(table, release.name, "release", pruned.env, "—", f"newest {keep}")
    show(out, table)
    for pruned in snapshots:
        if pruned.busy:
            out.print(
                Text(f"{pruned.env}: release snapshots left alone: {pruned.busy}", style="yellow")
            )
    return EXIT_OK


def perf(args: argparse.Namespace, out: Console) -> int:
    """``pipelines perf compare``: exit 1 on a significant slowdown above the limit."""
    config = project_config(args)
    layout = project_layout(args, config)
    baseline = read_benchmarks(Path(args.baseline))
    candidate = read_benchmarks(Path(args.candidate))
    if not set(baseline) & set(candidate):
        raise UsageError(
            f"{args.baseline} and {args.candidate} share no benchmark",
            hint="compare two runs of the same benchmarks",
        )
    compared = compare(baseline, candidate, alpha=args.alpha, min_effect=args.min_effect)
    limit = args.max_slowdown
    if limit is None:
        limit = config.environment(args.env).gate.max_slowdown
    found = slowdowns(compared)
    over = {name: pct for name, pct in found.items() if limit is not None and pct > limit}
    written = ComparisonFile(
        baseline=args.baseline,
        candidate=args.candidate,
        alpha=args.alpha,
        min_effect_percent=args.min_effect,
        max_slowdown_percent=limit,
        benchmarks=compared,
        slowdowns=found,
        over_limit=over,
    )
    report_data = msgspec.to_builtins(written)
    atomic.write_json(
        atomic.writable_dir(layout.stage("perf"), "the comparison") / COMPARISON, report_data
    )
    if args.json:
        print(json.dumps(report_data, indent=2))
    else:
        table = Table(title=f"benchmarks: {len(found)} significantly slower")
        for column in ("benchmark", "baseline", "candidate", "ratio", "p-value", "change"):
            table.add_column(column)
        style = {Change.SLOWER: "bold red", Change.FASTER: "green", Change.UNCHANGED: "dim"}
        for c in compared:
            add_row(
                table,
                c.name,
                f"{c.baseline_median:.6g}",
                f"{c.candidate_median:.6g}",
                f"{c.ratio:.3f}",
                f"{c.p_value:.4f}",
                Text(c.change.value, style=style[c.change]),
            )
        show(out, table)
        if over:
            out.print(f"slower than the {limit:g}% allowed: {', '.join(over)}", markup=False)
    return EXIT_FAILED if over else EXIT_OK
