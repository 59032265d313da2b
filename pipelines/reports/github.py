"""GitHub Actions output: a Markdown job summary, error annotations and step outputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAX_ANNOTATIONS = 10


def in_github_actions(environ: Mapping[str, str]) -> bool:
    """True inside a GitHub Actions job."""
    return environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_annotations(decision: Mapping[str, Any]) -> list[str]:
    """At most ten ``::error`` workflow commands: failing tests first, then failing rules."""
    lines: list[str] = []
    tests = decision.get("tests") or {}
    for test in tests.get("failing", []):
        title = f"{test.get('classname', '')}.{test.get('name', '')}".strip(".")
        props = f"title={_escape_property(title)}"
        if test.get("file"):
            props = f"file={_escape_property(test['file'])}," + props
        lines.append(f"::error {props}::{_escape_data(test.get('message') or 'failed')}")
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
    summary_file = environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with Path(summary_file).open("a", encoding="utf-8") as handle:
            handle.write(summary_markdown(decision))
    output_file = environ.get("GITHUB_OUTPUT")
    if output_file:
        with Path(output_file).open("a", encoding="utf-8") as handle:
            for key, value in outputs(decision).items():
                handle.write(f"{key}={value}\n")
    return error_annotations(decision)
