"""The HTML run report: one self-contained file (inline CSS and SVG, no script, no external
request, and a Content-Security-Policy that forbids both) with the stage timeline, the gate's
rules, failing and flaky tests, coverage, the findings, trends across recent runs, and for
deploys the analysis charts and the rollback timeline. Every value is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from pipelines.readers.findings import Finding
from pipelines.report.deploy_view import deploy_section, table
from pipelines.report.history import DeployEntry, History, RunRecord
from pipelines.report.summary import Summary, cell
from pipelines.report.svg import Bar, Series, gantt, lines
from pipelines.severity import Severity

# Nothing runs and nothing loads: no script, no remote style, font, image, frame or form.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
# Findings listed by name; the rest are counted.
LISTED_FINDINGS = 100

STYLE = """
:root { color-scheme: light dark; --fg: #171717; --muted: #525252; --line: #e5e5e5;
  --bg: #fff; --pass: #15803d; --fail: #b91c1c; --warn: #b45309; --neutral: #1d4ed8; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e5e5e5; --muted: #a3a3a3; --line: #404040; --bg: #171717;
    --pass: #4ade80; --fail: #f87171; --warn: #fbbf24; --neutral: #93c5fd; } }
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 820px;
  padding: 0 1rem; color: var(--fg); background: var(--bg); }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
h4 { margin: 1rem 0 .3rem; } .meta { color: var(--muted); }
.scroll { overflow-x: auto; } table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; }
.pass, .passed, .open, .succeeded, .Successful { color: var(--pass); font-weight: 600; }
.fail, .failed, .closed, .rolled-back, .Failed, .Error { color: var(--fail); font-weight: 600; }
.warn, .paused, .Inconclusive { color: var(--warn); font-weight: 600; }
.neutral { color: var(--neutral); font-weight: 600; }
svg.chart { max-width: 100%; height: auto; display: block; margin: .6rem 0; }
svg .label, svg .tick, svg .legend, svg .marker-label, svg .axis-label {
  font: 12px system-ui, sans-serif; fill: var(--muted); }
svg .chart-title { font: 600 13px system-ui, sans-serif; fill: var(--fg); }
svg .grid { stroke: var(--line); } svg .marker { stroke: var(--fg); }
.empty { color: var(--muted); font-style: italic; }
@media (max-width: 600px) { body { margin: 1rem auto; font-size: 13px; }
  th, td { padding: .2rem .35rem; } }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """A table; each cell is (text, css class), both escaped here."""
    return table(headers, [[(escape(t), c) for t, c in row] for row in rows])


def _timeline(run: RunRecord) -> str:
    bars, clock = [], 0.0
    for stage in run.stages:
        start = stage.started if stage.started is not None else clock
        bars.append(Bar(stage.name, start, start + stage.duration, stage.status))
        clock = max(clock, start + stage.duration)
    note = ""
    if any(stage.started is None for stage in run.stages):
        note = '<p class="empty">This run recorded no start times: stages are shown in order.</p>'
    return gantt(bars, title=f"Stage timeline of {run.run_id}") + note


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


def _findings_list(findings: Sequence[Finding]) -> str:
    if not findings:
        return ""
    worst_first = list(Severity)
    ordered = sorted(findings, key=lambda f: (worst_first.index(f.severity), f.file, f.line))
    rows = [
        [
            (f.severity.value, f.severity.value),
            (f.file or "—", ""),
            (str(f.line) if f.line else "—", ""),
            (f"{f.tool} {f.rule}", ""),
            (f.message, ""),
        ]
        for f in ordered[:LISTED_FINDINGS]
    ]
    more = len(ordered) - LISTED_FINDINGS
    return _table(("severity", "file", "line", "rule", "message"), rows) + (
        f'<p class="meta">and {more} more in security.sarif.</p>' if more > 0 else ""
    )


def _coverage_and_findings(summary: Summary, findings: Sequence[Finding]) -> str:
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
    counted = summary.findings()
    if counted:
        rows = [[(severity, ""), (str(count), "")] for severity, count in counted]
        parts.append(_table(("severity", "findings"), rows) + _findings_list(findings))
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
        lines(
            [s for s in quality if s.points],
            title="Pass rate and line coverage",
            unit="%",
            y_label="percent",
            x_label="run number",
        )
        + lines(
            [s for s in flaky if s.points],
            title="Flaky tests",
            unit="",
            y_label="tests",
            x_label="run number",
        )
        + lines(
            durations,
            title="Stage durations",
            unit=" s",
            y_label="seconds",
            x_label="run number",
            x_unit="",
        )
        + f'<p class="meta">Runs by number: {escape(labels)}</p>'
    )


def render(
    history: History,
    run: RunRecord | None,
    summary: Summary,
    *,
    pipeline: str,
    recent: int = 20,
    findings: Sequence[Finding] = (),
    deploy: DeployEntry | None = None,
) -> str:
    """The whole report: of a run (the newest by default), or of one deploy or drill."""
    if deploy is not None:
        return _page(
            pipeline,
            f"{deploy.action} {deploy.run_id} · {deploy.env} · {deploy.outcome}",
            [("Deploy", deploy_section(deploy))],
        )
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
            ("Coverage and security", _coverage_and_findings(summary, findings)),
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
    return _page(pipeline, header, sections)


def _page(pipeline: str, header: str, sections: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<h2>{escape(title)}</h2>{html}" for title, html in sections)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        f"<title>{escape(pipeline)}: pipeline report</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>"
        f'<h1>{escape(pipeline)}</h1><p class="meta">{escape(header)}</p>{body}</body></html>'
    )
