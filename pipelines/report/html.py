"""The HTML run report: one self-contained file (inline CSS and SVG, no script, no external
request) with the stage timeline, the gate's rules, failing and flaky tests, coverage,
findings by severity, trends across recent runs, and for deploys the analysis charts and
the rollback timeline."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import msgspec

from pipelines.report.history import DeployEntry, History, RunRecord
from pipelines.report.summary import Summary, cell
from pipelines.report.svg import Bar, Marker, Series, gantt, lines

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 820px; color: #171717; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #525252; } table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .25rem .6rem; text-align: left; }
.pass, .passed, .open, .succeeded, .Successful { color: #15803d; font-weight: 600; }
.fail, .failed, .closed, .rolled-back, .Failed, .Error { color: #b91c1c; font-weight: 600; }
.warn, .paused, .Inconclusive { color: #b45309; font-weight: 600; }
svg .label, svg .tick, svg .legend, svg .marker-label {
  font: 12px system-ui, sans-serif; fill: #404040; }
svg .grid { stroke: #e5e5e5; } .empty { color: #737373; font-style: italic; }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """A table; each cell is (text, css class)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{escape(c)}">{escape(t)}</td>' for t, c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _timeline(run: RunRecord) -> str:
    bars, clock = [], 0.0
    for stage in run.stages:
        start = stage.started if stage.started is not None else clock
        bars.append(Bar(stage.name, start, start + stage.duration, stage.status))
        clock = max(clock, start + stage.duration)
    note = ""
    if any(stage.started is None for stage in run.stages):
        note = '<p class="empty">This run recorded no start times: stages are shown in order.</p>'
    return gantt(bars, title=f"stage timeline of {run.run_id}") + note


def _gate(summary: Summary) -> str:
    decision = summary.decision
    if decision is None:
        return '<p class="empty">No gate decision was recorded for this run.</p>'
    rows = [
        [
            (rule.name, ""),
            (cell(rule.measured), ""),
            (f"{rule.comparison} {cell(rule.threshold)}", ""),
            (rule.verdict.value, rule.verdict.value),
        ]
        for rule in decision.rules
    ]
    status = decision.status.value
    return (
        f'<p>Gate <span class="{status}" id="gate-status">{status}</span> '
        f"for {escape(decision.env)}.</p>"
        + _table(("rule", "measured", "threshold", "verdict"), rows)
    )


def _tests(summary: Summary) -> str:
    tests = summary.decision.evidence.tests if summary.decision else None
    if tests is None:
        return '<p class="empty">No test report.</p>'
    counts = [
        ("passed", tests.passed),
        ("failed", tests.failed),
        ("errors", tests.errors),
        ("skipped", tests.skipped),
        ("xfailed", tests.xfailed),
        ("flaky", tests.flaky),
    ]
    text = ", ".join(f'<span data-count="{n}">{v} {n}</span>' for n, v in counts)
    parts = [f"<p>{text}.</p>"]
    named = [(t.title, "failed", t.message) for t in tests.failing]
    named += [(t.title, "flaky", t.message) for t in tests.flaky_tests]
    if named:
        rows = [[(title, ""), (kind, kind), (message, "")] for title, kind, message in named]
        parts.append(_table(("test", "outcome", "message"), rows))
    else:
        parts.append('<p class="empty">No failing or flaky tests.</p>')
    return "".join(parts)


def _coverage_and_findings(summary: Summary) -> str:
    decision = summary.decision
    coverage = decision.evidence.coverage if decision else None
    parts = []
    if coverage is not None:
        line = coverage.percent("line")
        branch = coverage.percent("branch")
        parts.append(
            f'<p>Coverage: <span id="coverage-line">{cell(line)}</span>% of lines '
            f"({coverage.lines_covered} of {coverage.lines_valid})"
            + (f", {cell(branch)}% of branches" if branch is not None else "")
            + ".</p>"
        )
    else:
        parts.append('<p class="empty">No coverage report.</p>')
    findings = summary.findings()
    if findings:
        rows = [[(severity, ""), (str(count), "")] for severity, count in findings]
        parts.append(_table(("severity", "findings"), rows))
    elif decision is not None and decision.evidence.findings is not None:
        parts.append("<p>No security findings.</p>")
    else:
        parts.append('<p class="empty">Security was not scanned in this run.</p>')
    return "".join(parts)


def _trends(runs: Sequence[RunRecord]) -> str:
    if len(runs) < 2:
        return '<p class="empty">Trends need at least two runs.</p>'
    numbered = list(enumerate(runs, start=1))
    quality = [
        Series(
            "pass rate %", tuple((i, r.pass_rate) for i, r in numbered if r.pass_rate is not None)
        ),
        Series(
            "line coverage %", tuple((i, r.coverage) for i, r in numbered if r.coverage is not None)
        ),
    ]
    flaky = [
        Series(
            "flaky tests", tuple((i, float(r.flaky)) for i, r in numbered if r.flaky is not None)
        )
    ]
    names = sorted({stage.name for run in runs for stage in run.stages})
    durations = [
        Series(
            name,
            tuple(
                (i, stage.duration)
                for i, run in numbered
                for stage in run.stages
                if stage.name == name
            ),
        )
        for name in names
    ]
    labels = ", ".join(f"{i}: {r.run_id}" for i, r in numbered)
    return (
        lines([s for s in quality if s.points], title="pass rate and coverage", unit="%")
        + lines([s for s in flaky if s.points], title="flaky tests", unit="")
        + lines(durations, title="stage durations", unit=" s", x_unit="")
        + f'<p class="meta">Runs by number: {escape(labels)}</p>'
    )


def deploy_section(entry: DeployEntry) -> str:
    """The analysis charts and the rollback timeline of one deploy."""
    timeline = msgspec.structs.asdict(entry.timeline)
    start = entry.timeline.started or 0.0
    analysis = entry.metrics.analysis
    markers = [
        Marker(float(value) - start, name.replace("_", " "))
        for name, value in timeline.items()
        if value is not None and name in ("exposed", "decision", "traffic_on_stable")
    ]
    charts = []
    for metric, unit, title in (
        ("p95_ms", " ms", "p95 latency"),
        ("error_rate", "%", "error rate"),
    ):
        series = []
        for pool in ("new", "stable"):
            points = tuple(
                (m.at - start, float(value))
                for m in analysis
                if (summary := m.new if pool == "new" else m.stable) is not None
                and (value := getattr(summary, metric)) is not None
            )
            label = "canary (new)" if pool == "new" else "stable"
            series.append(Series(label, points))
        charts.append(
            lines(
                [s for s in series if s.points],
                title=f"{title}: new against stable",
                unit=unit,
                markers=markers,
                x_unit=" s",
            )
        )
    rows = [
        [(name.replace("_", " "), ""), (f"{float(value) - start:.3f} s" if value else "—", "")]
        for name, value in timeline.items()
    ]
    verdicts = [
        [
            (f"{m.at - start:.2f} s", ""),
            (m.verdict.value, m.verdict.value),
            (m.detail, ""),
        ]
        for m in analysis
    ]
    outcome = escape(entry.outcome)
    drill = ""
    if entry.drill:
        clients = entry.drill.clients
        drill = (
            f"<p>Drill: {'passed' if entry.drill.passed else 'FAILED'}; time to detect "
            f"{cell(entry.drill.time_to_detect_seconds)} s, time to roll back "
            f"{cell(entry.drill.time_to_rollback_seconds)} s; "
            f"{clients.lost} of {clients.sent} client requests lost.</p>"
        )
    return (
        f'<section class="deploy" data-run="{escape(entry.run_id)}">'
        f"<h3>{escape(entry.action)} of {escape(entry.version)} to {escape(entry.env)}: "
        f'<span class="{outcome}">{outcome}</span></h3>'
        f"<p>{escape(entry.reason)}</p>{drill}"
        + "".join(charts)
        + _table(("moment", "after start"), rows)
        + (_table(("analysis at", "verdict", "detail"), verdicts) if verdicts else "")
        + "</section>"
    )


def render(
    history: History, run: RunRecord | None, summary: Summary, *, pipeline: str, recent: int = 20
) -> str:
    """The whole report."""
    sections: list[tuple[str, str]] = []
    if run is not None:
        header = (
            f"run {run.run_id} · {run.env} · commit {run.commit[:12]} · "
            f"{run.status} in {run.duration:.1f} s"
        )
        sections += [
            ("Stage timeline", _timeline(run)),
            ("Gate", _gate(summary)),
            ("Tests", _tests(summary)),
            ("Coverage and security", _coverage_and_findings(summary)),
        ]
    else:
        header = "no pipeline run recorded"
    runs = [r for r in history.runs if run is None or r.env == run.env][-recent:]
    sections.append((f"Trends (last {len(runs)} runs)", _trends(runs)))
    deploys = history.deploys[-5:]
    sections.append(
        (
            "Deploys",
            "".join(deploy_section(d) for d in reversed(deploys))
            or '<p class="empty">No deploys recorded.</p>',
        )
    )
    if history.problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in history.problems)
        sections.append(("Unreadable artifacts", f"<ul>{items}</ul>"))
    body = "".join(f"<h2>{escape(title)}</h2>{html}" for title, html in sections)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(pipeline)}: pipeline report</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>"
        f'<h1>{escape(pipeline)}</h1><p class="meta">{escape(header)}</p>{body}</body></html>'
    )
