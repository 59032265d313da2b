"""GitHub Actions output: a Markdown job summary, annotations and step outputs.

Annotations are the only workflow commands the SDK prints (after the guard of
``workflow_commands``), each value escaped as GitHub documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.gate.rules import GateDecision, GateStatus
from pipelines.readers.findings import Finding
from pipelines.readers.junit import TestCase
from pipelines.report.summary import markdown, of_decision
from pipelines.report.workflow_commands import escape_data, escape_property, in_github_actions
from pipelines.severity import Severity

# GitHub shows at most 10 errors and 10 warnings (and 10 notices) of a step: more are dropped
# by GitHub, so we keep the first of each level ourselves (failing tests first) and say in
# one notice how many more the summary and the reports hold.
MAX_PER_LEVEL = 10
MAX_MESSAGE = 4000  # characters of one annotation's message
LEVELS = ("error", "warning", "notice")
_FINDING_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "notice",
}
_TEST_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class Annotation:
    """One ``::error``/``::warning``/``::notice`` line, with its location where known."""

    level: str
    message: str
    title: str = ""
    file: str = ""
    line: int = 0

    def command(self) -> str:
        """The workflow command, every value escaped."""
        props = []
        if self.file:
            props.append(f"file={escape_property(self.file)}")
            if self.line > 0:
                props.append(f"line={self.line}")
        if self.title:
            props.append(f"title={escape_property(self.title)}")
        head = f"::{self.level}" + (" " + ",".join(props) if props else "")
        return f"{head}::{escape_data(self.message[:MAX_MESSAGE] or '-')}"


def test_file(test: TestCase) -> str:
    """The test's file: as the report names it, else from its id (``tests.test_a`` ->
    ``tests/test_a.py``; a class after the module is dropped)."""
    if test.file:
        return test.file
    if not _TEST_MODULE.fullmatch(test.classname):
        return ""
    parts = test.classname.split(".")
    while parts and parts[-1][:1].isupper():
        parts.pop()
    return "/".join(parts) + ".py" if parts else ""


def decision_annotations(decision: GateDecision) -> list[Annotation]:
    """Failing tests (errors when the gate closed, warnings when its pass rate let them
    through), then the gate's reasons."""
    tests = decision.evidence.tests
    level = "error" if decision.status is not GateStatus.OPEN else "warning"
    found = [
        Annotation(level, test.message or "failed", test.title, test_file(test))
        for test in (tests.failing if tests else ())
    ]
    found += [Annotation("error", reason, "gate") for reason in decision.reasons]
    return found


def finding_annotations(findings: Iterable[Finding]) -> list[Annotation]:
    """A finding at its location: errors for critical and high, warnings for medium."""
    return [
        Annotation(
            _FINDING_LEVEL.get(finding.severity, "notice"),
            finding.message,
            f"{finding.tool} {finding.rule}",
            finding.file,
            finding.line,
        )
        for finding in findings
    ]


def capped(annotations: Sequence[Annotation]) -> list[str]:
    """The commands GitHub will show: the first ``MAX_PER_LEVEL`` of each level, in order,
    and a notice counting the rest."""
    kept: list[str] = []
    counts = dict.fromkeys(LEVELS, 0)
    dropped = 0
    for annotation in annotations:
        level = annotation.level if annotation.level in counts else "notice"
        counts[level] += 1
        limit = MAX_PER_LEVEL - 1 if level == "notice" else MAX_PER_LEVEL
        if counts[level] <= limit:
            kept.append(annotation.command())
        else:
            dropped += 1
    if dropped:
        more = Annotation("notice", f"{dropped} more annotations: see the job summary", "more")
        kept.append(more.command())
    return kept


def error_annotations(decision: GateDecision) -> list[str]:
    """The gate decision's annotations, capped as GitHub shows them."""
    return capped(decision_annotations(decision))


def outputs(decision: GateDecision) -> dict[str, str]:
    """Step outputs other jobs can use (``needs.<job>.outputs.gate``)."""
    tests = decision.evidence.tests
    rate = tests.pass_rate if tests else None
    return {
        "gate": decision.status.value,
        "pass_rate": "" if rate is None else f"{rate:.2f}",
        "flaky": str(tests.flaky) if tests else "",
    }


def publish(decision: GateDecision, environ: Mapping[str, str]) -> list[str]:
    """Append the summary and outputs to GitHub's files; return the annotation lines to print."""
    if not in_github_actions(environ):
        return []
    write_files(decision, environ)
    return error_annotations(decision)


def write_files(decision: GateDecision, environ: Mapping[str, str]) -> None:
    """Append the gate's summary and outputs to GitHub's step files (where they are set)."""
    lines = "".join(f"{key}={value}\n" for key, value in outputs(decision).items())
    for variable, text in (
        ("GITHUB_STEP_SUMMARY", markdown(of_decision(decision))),
        ("GITHUB_OUTPUT", lines),
    ):
        if environ.get(variable):
            _append(variable, Path(environ[variable]), text)


def _append(variable: str, path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(
            f"{path}: {variable} cannot be written ({exc.strerror})",
            hint=f"{variable} must name a writable file (GitHub Actions sets it)",
        ) from exc
