"""GitHub Actions output: a Markdown job summary, error annotations and step outputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.gate_rules import GateDecision, GateStatus
from pipelines.report.summary import markdown, of_decision

MAX_ANNOTATIONS = 10


def in_github_actions(environ: Mapping[str, str]) -> bool:
    """True inside a GitHub Actions job."""
    return environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_annotations(decision: GateDecision) -> list[str]:
    """At most ten workflow commands: failing tests first (errors when the gate closed,
    warnings when its pass rate let them through), then failing rules."""
    lines: list[str] = []
    tests = decision.evidence.tests
    level = "error" if decision.status is not GateStatus.OPEN else "warning"
    for test in tests.failing if tests else ():
        props = f"title={_escape_property(test.title)}"
        if test.file:
            props = f"file={_escape_property(test.file)}," + props
        lines.append(f"::{level} {props}::{_escape_data(test.message or 'failed')}")
    lines.extend(f"::error title=gate::{_escape_data(reason)}" for reason in decision.reasons)
    return lines[:MAX_ANNOTATIONS]


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
    lines = "".join(f"{key}={value}\n" for key, value in outputs(decision).items())
    for variable, text in (
        ("GITHUB_STEP_SUMMARY", markdown(of_decision(decision))),
        ("GITHUB_OUTPUT", lines),
    ):
        if environ.get(variable):
            _append(variable, Path(environ[variable]), text)
    return error_annotations(decision)


def _append(variable: str, path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(
            f"{path}: {variable} cannot be written ({exc.strerror})",
            hint=f"{variable} must name a writable file (GitHub Actions sets it)",
        ) from exc
