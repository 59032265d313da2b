"""GitHub Actions output: a Markdown job summary, error annotations and step outputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.errors import UsageError

MAX_ANNOTATIONS = 10


def in_github_actions(environ: Mapping[str, str]) -> bool:
    """True inside a GitHub Actions job."""
    return environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_annotations(decision: Mapping[str, Any]) -> list[str]:
    """At most ten workflow commands: failing tests first (errors when the gate closed,
    warnings when its pass rate let them through), then failing rules."""
    lines: list[str] = []
    tests = decision.get("tests") or {}
    level = "error" if decision["status"] != "open" else "warning"
    for test in tests.get("failing", []):
        title = f"{test.get('classname', '')}.{test.get('name', '')}".strip(".")
        props = f"title={_escape_property(title)}"
        if test.get("file"):
            props = f"file={_escape_property(test['file'])}," + props
        lines.append(f"::{level} {props}::{_escape_data(test.get('message') or 'failed')}")
    lines.extend(f"::error title=gate::{_escape_data(reason)}" for reason in decision["reasons"])
    return lines[:MAX_ANNOTATIONS]


def summary_markdown(decision: Mapping[str, Any]) -> str:
    """The gate decision as a Markdown table for ``$GITHUB_STEP_SUMMARY``."""
    icon = "✅" if decision["status"] == "open" else "❌"
    rows = [
        f"### {icon} Gate {decision['status']} ({decision['env']})",
        "",
        "| rule | measured | threshold | verdict |",
        "|---|---|---|---|",
    ]
    for rule in decision["rules"]:
        threshold = f"{rule['comparison']} {_cell(rule['threshold'])}"
        rows.append(
            f"| {rule['name']} | {_cell(rule['measured'])} | {threshold} | {rule['verdict']} |"
        )
    tests = decision.get("tests")
    if tests:
        rows += [
            "",
            f"Tests: {tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors,"
            f" {tests['skipped']} skipped, {tests.get('xfailed', 0)} xfailed,"
            f" {tests['flaky']} flaky.",
        ]
        failing = [f"{t.get('classname', '')}.{t.get('name', '')}" for t in tests["failing"]]
        if failing:
            # The pass rate may let failures through: name them so nobody reads "open" as
            # "all tests passed".
            rows += ["", "Failing tests: " + ", ".join(_cell(name) for name in failing)]
    return "\n".join(rows) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "—" if value is None else str(value).replace("|", "\\|")


def outputs(decision: Mapping[str, Any]) -> dict[str, str]:
    """Step outputs other jobs can use (``needs.<job>.outputs.gate``)."""
    tests = decision.get("tests") or {}
    rate = tests.get("pass_rate")
    return {
        "gate": decision["status"],
        "pass_rate": "" if rate is None else f"{rate:.2f}",
        "flaky": str(tests.get("flaky", "")),
    }


def publish(decision: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Append the summary and outputs to GitHub's files; return the annotation lines to print."""
    if not in_github_actions(environ):
        return []
    lines = "".join(f"{key}={value}\n" for key, value in outputs(decision).items())
    for variable, text in (
        ("GITHUB_STEP_SUMMARY", summary_markdown(decision)),
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
