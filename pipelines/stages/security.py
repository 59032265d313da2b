"""The security stage: bandit (SAST), detect-secrets (secrets), pip-audit (dependencies).

Each scanner ends as passed, failed (findings) or not-checked (it could not do its job, with
the reason). A scanner that could not run is never reported as a pass. Findings never carry a
secret's value: detect-secrets' hashes are dropped too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pipelines import atomic
from pipelines.errors import ToolError
from pipelines.process import run_tool
from pipelines.reports.findings import Finding, to_sarif
from pipelines.stages.base import (
    READ_ONLY_SAFE_ENV,
    StageContext,
    StageResult,
    StageStatus,
    relative,
)

# Generated or vendored trees no scanner should read, whatever the config says.
ALWAYS_EXCLUDED = (
    ".git",
    "reports",
    "artifacts",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".ruff_cache",
    ".mypy_cache",
    ".pytest_cache",
)


@dataclass(frozen=True)
class ScanOutcome:
    """One scanner's verdict."""

    status: StageStatus
    findings: tuple[Finding, ...] = ()
    reason: str = ""


def run(context: StageContext) -> StageResult:
    """Run the configured scanners; write result.json and security.sarif."""
    settings = context.config.security
    # The scanners are independent subprocesses: run them side by side.
    with ThreadPoolExecutor(max_workers=max(1, len(settings.scanners))) as pool:
        futures = {name: pool.submit(_scan, name, context) for name in settings.scanners}
    outcomes = {name: future.result() for name, future in futures.items()}
    findings = [f for outcome in outcomes.values() for f in outcome.findings]
    reports = context.reports("security")
    atomic.write_json(reports / "security.sarif", to_sarif(findings, list(settings.scanners)))
    unchecked = {
        name: o.reason for name, o in outcomes.items() if o.status is StageStatus.NOT_CHECKED
    }
    by_severity: dict[str, int] = {}
    for finding in findings:
        by_severity[finding.severity] = by_severity.get(finding.severity, 0) + 1
    limits = context.environment.gate.max_findings
    over = {sev: n for sev, n in by_severity.items() if sev in limits and n > limits[sev]}
    if over:
        status = StageStatus.FAILED
    elif unchecked:
        status = StageStatus.NOT_CHECKED
    else:
        status = StageStatus.PASSED
    summary = f"{len(findings)} finding(s)"
    if unchecked:
        summary += f"; not checked: {', '.join(sorted(unchecked))}"
    details: dict[str, Any] = {
        "scanners": {
            name: {"status": o.status.value, "findings": len(o.findings), "reason": o.reason}
            for name, o in outcomes.items()
        },
        "by_severity": by_severity,
        "unchecked": unchecked,
    }
    result = StageResult("security", status, summary, findings, details)
    result.write(context)
    return result


def _scan(scanner: str, context: StageContext) -> ScanOutcome:
    try:
        return _SCANNERS[scanner](context)
    except ToolError as exc:
        return ScanOutcome(StageStatus.NOT_CHECKED, reason=exc.message)


def _excluded(context: StageContext) -> list[str]:
    return sorted({*ALWAYS_EXCLUDED, *context.config.security.exclude})


def _bandit(context: StageContext) -> ScanOutcome:
    settings = context.config.security
    # bandit matches excludes against the paths it walks ("./tests/x.py"), so give both forms.
    excluded = ",".join(f"{form}" for e in _excluded(context) for form in (e, f"./{e}", f"*/{e}/*"))
    done = run_tool(
        ["bandit", "-r", "-f", "json", "-q", "-x", excluded, *settings.paths],
        cwd=context.project,
        timeout=settings.timeout,
        env=READ_ONLY_SAFE_ENV,
    )
    data = _json_or_none(done.stdout)
    if done.returncode not in (0, 1) or not isinstance(data, dict):
        return ScanOutcome(StageStatus.NOT_CHECKED, reason=f"bandit failed: {done.last_line()}")
    findings = tuple(
        Finding(
            tool="bandit",
            rule=str(item.get("test_id", "")),
            severity=str(item.get("issue_severity", "LOW")).lower(),
            message=str(item.get("issue_text", "")),
            file=relative(str(item.get("filename", "")), context.project),
            line=int(item.get("line_number", 0)),
        )
        for item in data.get("results", [])
    )
    return ScanOutcome(StageStatus.FAILED if findings else StageStatus.PASSED, findings)


def _detect_secrets(context: StageContext) -> ScanOutcome:
    settings = context.config.security
    pattern = "^(" + "|".join(re.escape(e.strip("/")) for e in _excluded(context)) + ")(/|$)"
    done = run_tool(
        ["detect-secrets", "scan", "--all-files", "--exclude-files", pattern, *settings.paths],
        cwd=context.project,
        timeout=settings.timeout,
        env=READ_ONLY_SAFE_ENV,
    )
    data = _json_or_none(done.stdout)
    if done.returncode != 0 or not isinstance(data, dict):
        return ScanOutcome(
            StageStatus.NOT_CHECKED, reason=f"detect-secrets failed: {done.last_line()}"
        )
    findings = []
    for file, items in sorted(data.get("results", {}).items()):
        for item in items:
            kind = str(item.get("type", "secret"))
            # Only the kind and the place: never the value, nor its hash.
            findings.append(
                Finding(
                    "detect-secrets",
                    kind,
                    "high",
                    f"possible {kind} (value not shown)",
                    relative(file, context.project),
                    int(item.get("line_number", 0)),
                )
            )
    return ScanOutcome(StageStatus.FAILED if findings else StageStatus.PASSED, tuple(findings))


def _pip_audit(context: StageContext) -> ScanOutcome:
    settings = context.config.security
    argv = ["pip-audit", "--format", "json", "--progress-spinner", "off"]
    target = "the environment"
    if settings.requirements:
        # Pinned requirements are read as they are: nothing is installed to resolve them.
        argv += ["--requirement", settings.requirements, "--no-deps", "--disable-pip"]
        target = settings.requirements
    done = run_tool(argv, cwd=context.project, timeout=settings.timeout)
    data = _json_or_none(done.stdout)
    if not isinstance(data, dict):
        return ScanOutcome(StageStatus.NOT_CHECKED, reason=f"pip-audit failed: {done.last_line()}")
    dependencies = data.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    findings = tuple(
        Finding(
            tool="pip-audit",
            rule=str(vuln.get("id", "")),
            severity="high",
            message=f"{dep.get('name')} {dep.get('version')}: {vuln.get('id')}"
            + (
                f" (fixed in {', '.join(vuln['fix_versions'])})" if vuln.get("fix_versions") else ""
            ),
            file=target,
        )
        for dep in dependencies
        for vuln in dep.get("vulns", [])
    )
    if findings:
        return ScanOutcome(StageStatus.FAILED, findings)
    if skipped:
        # pip-audit exits 0 here, yet it audited nothing it skipped: that is not a pass.
        first = str(skipped[0].get("skip_reason", ""))
        reason = f"{len(skipped)} of {len(dependencies)} dependencies not audited ({first})"
        return ScanOutcome(StageStatus.NOT_CHECKED, reason=reason)
    return ScanOutcome(StageStatus.PASSED)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


_SCANNERS: dict[str, Callable[[StageContext], ScanOutcome]] = {
    "bandit": _bandit,
    "detect-secrets": _detect_secrets,
    "pip-audit": _pip_audit,
}
