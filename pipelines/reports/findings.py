"""Normalised security findings, and SARIF 2.1.0 writing and reading."""

from __future__ import annotations

import json
from collections.abc import Sequence
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


def to_sarif(findings: Sequence[Finding], tools: Sequence[str]) -> dict[str, Any]:
    """One SARIF 2.1.0 log with a run per tool (tools with no findings get an empty run)."""
    runs = []
    for tool in tools:
        own = [f for f in findings if f.tool == tool]
        rules = sorted({f.rule for f in own})
        runs.append(
            {
                "tool": {
                    "driver": {
                        "name": tool,
                        "rules": [{"id": rule} for rule in rules],
                    }
                },
                "results": [_sarif_result(f) for f in own],
            }
        )
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


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


def read_sarif(path: Path) -> list[Finding]:
    """Read findings from any SARIF 2.1.0 log (ours or another tool's)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
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
