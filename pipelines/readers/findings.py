"""Normalised security findings, and SARIF 2.1.0 writing and reading."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from pipelines.errors import ReportError
from pipelines.severity import Severity

_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


class Finding(msgspec.Struct, frozen=True):
    """One problem a scanner found. It never carries a secret's value."""

    tool: str
    rule: str
    severity: Severity
    message: str
    file: str = ""
    line: int = 0


# GitHub code scanning ranks security alerts by this score (critical > 9, high 7-8.9,
# medium 4-6.9, low 0.1-3.9).
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
}
# What each scanner looks for: a tag for code scanning's filters, and a sentence for help.
_SCANNER_KIND = {
    "bandit": ("sast", "a pattern of insecure Python code"),
    "detect-secrets": ("secrets", "what looks like a credential committed to the tree"),
    "pip-audit": ("dependencies", "a dependency version with a known vulnerability"),
}


def to_sarif(
    findings: Sequence[Finding],
    tools: Sequence[str],
    unchecked: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One SARIF 2.1.0 log with a run per tool (tools with no findings get an empty run).

    Each run records its invocation: a scanner in ``unchecked`` could not do its job
    (``executionSuccessful: false``, with the reason as a notification), so no viewer
    mistakes its empty results for a clean scan.
    """
    not_run = unchecked or {}
    runs = []
    for tool in tools:
        own = [f for f in findings if f.tool == tool]
        invocation: dict[str, Any] = {"executionSuccessful": tool not in not_run}
        if tool in not_run:
            invocation["toolExecutionNotifications"] = [
                {"level": "error", "message": {"text": f"{tool} did not run: {not_run[tool]}"}}
            ]
        runs.append(
            {
                "tool": {"driver": {"name": tool, "rules": _rules(tool, own)}},
                "invocations": [invocation],
                "results": [_sarif_result(f) for f in own],
            }
        )
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


def _rules(tool: str, findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """One reporting descriptor per rule, at the highest severity it was found with."""
    order = list(Severity)
    worst: dict[str, Severity] = {}
    for finding in findings:
        known = worst.get(finding.rule)
        if known is None or order.index(finding.severity) < order.index(known):
            worst[finding.rule] = finding.severity
    tag, looks_for = _SCANNER_KIND.get(tool, ("security", "a security problem"))
    rules = []
    for rule, severity in sorted(worst.items()):
        help_text = f"{tool} reports {rule}: {looks_for}. See {tool}'s documentation of {rule}."
        descriptor: dict[str, Any] = {
            "id": rule,
            "name": rule,
            "shortDescription": {"text": f"{tool} {rule}"},
            "fullDescription": {"text": f"{tool} found {looks_for} ({rule})."},
            "help": {"text": help_text, "markdown": f"`{tool}` reports `{rule}`: {looks_for}."},
            "defaultConfiguration": {"level": _SARIF_LEVEL.get(severity, "note")},
            "properties": {
                "security-severity": _SECURITY_SEVERITY.get(severity, "2.0"),
                "tags": ["security", tag],
            },
        }
        if tool == "pip-audit" and re.fullmatch(r"[A-Z]+-[A-Za-z0-9-]+", rule):
            descriptor["helpUri"] = f"https://osv.dev/vulnerability/{rule}"
        rules.append(descriptor)
    return rules


def _sarif_result(finding: Finding) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": _SARIF_LEVEL.get(finding.severity, "note"),
        "message": {"text": finding.message},
        "properties": {"severity": finding.severity.value},
    }
    if finding.file:
        region = {"startLine": finding.line} if finding.line > 0 else {}
        result["locations"] = [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": finding.file},
                    **({"region": region} if region else {}),
                }
            }
        ]
    return result


# Far above what a scanner writes for a large project; a bigger file is refused, not loaded.
MAX_SARIF_BYTES = 256 * 1024 * 1024


def read_sarif(path: Path) -> list[Finding]:
    """Read findings from any SARIF 2.1.0 log (ours or another tool's)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SARIF_BYTES + 1)
        if len(raw) > MAX_SARIF_BYTES:
            raise ReportError(str(path), f"is larger than {MAX_SARIF_BYTES} bytes")
        data = json.loads(raw)
    except (OSError, ValueError, RecursionError) as exc:
        raise ReportError(str(path), f"is not a readable SARIF JSON file: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != "2.1.0":
        raise ReportError(str(path), "is not a SARIF 2.1.0 log")
    findings: list[Finding] = []
    for run in data.get("runs", []):
        tool = run.get("tool", {}).get("driver", {}).get("name", "unknown")
        for result in run.get("results", []):
            severity = result.get("properties", {}).get("severity") or {
                "error": "high",
                "warning": "medium",
            }.get(result.get("level", "warning"), "low")
            location = (result.get("locations") or [{}])[0].get("physicalLocation", {})
            findings.append(
                Finding(
                    tool=tool,
                    rule=str(result.get("ruleId", "")),
                    severity=Severity.parse(severity, Severity.LOW),
                    message=str(result.get("message", {}).get("text", "")),
                    file=str(location.get("artifactLocation", {}).get("uri", "")),
                    line=int(location.get("region", {}).get("startLine", 0)),
                )
            )
    return findings
