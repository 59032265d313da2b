"""One view of a run: the facts a person wants first (gate, rules, tests, coverage,
findings, stages, and the deploys of the environment), rendered as Markdown (the GitHub job
summary) and as rich tables (the terminal). The HTML report shows the same facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from pipelines import safe_text
from pipelines.gate.rules import GateDecision, GateStatus, Verdict
from pipelines.report import gate_rows
from pipelines.report.gate_rows import cell

__all__ = ["Summary", "cell", "gate_table", "markdown", "of_decision", "summary_of", "tables"]
from pipelines.severity import Severity

if TYPE_CHECKING:  # the gate's table needs no history (which reads deploys as well)
    from pipelines.report.history import History, RunRecord


@dataclass(frozen=True)
class StageLine:
    """A stage's outcome."""

    name: str
    status: str
    seconds: float


@dataclass(frozen=True)
class DeployLine:
    """A deploy, rollback or drill."""

    run_id: str
    action: str
    version: str
    outcome: str
    detail: str


@dataclass(frozen=True)
class Summary:
    """The facts, once."""

    title: str
    decision: GateDecision | None
    stages: tuple[StageLine, ...] = ()
    deploys: tuple[DeployLine, ...] = ()

    @property
    def gate_open(self) -> bool | None:
        """None without a decision."""
        return None if self.decision is None else self.decision.status is GateStatus.OPEN

    def findings(self) -> list[tuple[str, int]]:
        """Findings by severity, most severe first."""
        found = self.decision.evidence.findings if self.decision else None
        if not found:
            return []
        order = {s.value: i for i, s in enumerate(Severity)}
        return sorted(found.items(), key=lambda item: order.get(item[0], 99))


def _md(value: Any) -> str:
    return safe_text.markdown(cell(value))


def _term(value: Any) -> Text:
    """A terminal cell: data, never markup, its control characters shown escaped."""
    return Text(safe_text.terminal(cell(value)))


def _test(title: str) -> str:
    return safe_text.capped(title)


def markdown(summary: Summary) -> str:
    """The summary in GitHub-flavoured Markdown."""
    decision = summary.decision
    rows: list[str] = []
    if decision is not None:
        icon = "✅" if summary.gate_open else "❌"
        rows += [
            f"### {icon} Gate {decision.status.value} ({_md(decision.env)})",
            "",
            "| rule | measured | threshold | verdict |",
            "|---|---|---|---|",
        ]
        for rule in decision.rules:
            threshold = f"{rule.comparison} {cell(rule.threshold)}"
            rows.append(
                f"| {_md(rule.name)} | {_md(rule.measured)} | {_md(threshold)} |"
                f" {rule.verdict.value} |"
            )
        tests = decision.evidence.tests
        if tests:
            rows += [
                "",
                f"Tests: {tests.passed} passed, {tests.failed} failed, {tests.errors} errors,"
                f" {tests.skipped} skipped, {tests.xfailed} xfailed, {tests.flaky} flaky.",
            ]
            if tests.failing:
                # The pass rate may let failures through: name them so nobody reads "open"
                # as "all tests passed".
                names = ", ".join(_md(_test(test.title)) for test in tests.failing)
                rows += ["", f"Failing tests: {names}"]
            if tests.flaky_tests:
                flaky = ", ".join(_md(_test(t.title)) for t in tests.flaky_tests)
                rows += ["", f"Flaky tests: {flaky}"]
        findings = summary.findings()
        if findings:
            counted = ", ".join(f"{n} {_md(s)}" for s, n in findings)
            rows += ["", f"Findings: {counted}."]
    if summary.stages:
        rows += ["", "| stage | status | time |", "|---|---|---|"]
        rows += [f"| {_md(s.name)} | {_md(s.status)} | {s.seconds:.1f} s |" for s in summary.stages]
    if summary.deploys:
        rows += ["", "| deploy | action | version | outcome | detail |", "|---|---|---|---|---|"]
        rows += [
            f"| {_md(d.run_id)} | {_md(d.action)} | {_md(d.version)} | {_md(d.outcome)} |"
            f" {_md(d.detail)} |"
            for d in summary.deploys
        ]
    return "\n".join(rows) + "\n"


def tables(summary: Summary) -> list[Table]:
    """The summary as rich tables for the terminal."""
    found: list[Table] = []
    decision = summary.decision
    if decision is not None:
        found.append(gate_table(decision))
        tests = decision.evidence.tests
        if tests and (tests.failing or tests.flaky_tests):
            named = Table(title="failing and flaky tests")
            named.add_column("test")
            named.add_column("outcome")
            for test in tests.failing:
                named.add_row(_term(_test(test.title)), Text("failed", style="bold red"))
            for test in tests.flaky_tests:
                named.add_row(_term(_test(test.title)), Text("flaky", style="yellow"))
            found.append(named)
    if summary.stages:
        stages = Table(title="stages")
        for column in ("stage", "status", "time"):
            stages.add_column(column)
        for line in summary.stages:
            stages.add_row(_term(line.name), _term(line.status), Text(f"{line.seconds:.1f} s"))
        found.append(stages)
    if summary.deploys:
        deploys = Table(title="deploys")
        for column in ("run", "action", "version", "outcome", "detail"):
            deploys.add_column(column)
        for item in summary.deploys:
            values = (item.run_id, item.action, item.version, item.outcome, item.detail)
            deploys.add_row(*(_term(value) for value in values))
        found.append(deploys)
    return found


VERDICT_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.WARN: "yellow"}


def gate_table(decision: GateDecision) -> Table:
    """The gate's rules: what was measured against which threshold, the verdict and why."""
    table = Table(title=Text(gate_rows.title(decision)))
    for column in gate_rows.HEADERS:
        table.add_column(column)
    for rule, row in zip(decision.rules, gate_rows.rows(decision), strict=True):
        # Every cell is a Text: names and details quote tools and files, never markup.
        *before, verdict, detail = (Text(text) for text in row)
        verdict.stylize(VERDICT_STYLE.get(rule.verdict, "dim"))
        table.add_row(*before, verdict, detail)
    return table


def of_decision(decision: GateDecision, stages: Sequence[StageLine] = ()) -> Summary:
    """The summary of a gate decision (what the gate publishes to GitHub)."""
    return Summary(f"gate ({decision.env})", decision, tuple(stages))


def summary_of(history: History, run: RunRecord | None) -> Summary:
    """The one view of a run (and the recent deploys of its environment)."""
    stages = tuple(StageLine(s.name, s.status, s.duration) for s in run.stages) if run else ()
    env = run.env if run else None
    deploys = tuple(
        DeployLine(d.run_id, d.action, d.version, d.outcome, d.reason)
        for d in history.deploys[-5:]
        if env is None or d.env == env
    )
    title = f"run {run.run_id} ({run.env})" if run else "no run recorded"
    return Summary(title, run.decision if run else None, stages, deploys)
