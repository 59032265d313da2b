"""The security stage: bandit (SAST), detect-secrets (secrets), pip-audit (dependencies).

Each scanner ends as passed, failed (findings) or not-checked (it could not do its job, with
the reason). A scanner that could not run is never reported as a pass. The stage records the
findings; the gate alone judges them against the environment's limits. Findings never carry a
secret's value: detect-secrets' hashes are dropped too.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pipelines import atomic
from pipelines.errors import ToolError
from pipelines.layout import SARIF
from pipelines.process import run_tool, show_command
from pipelines.project.commands import pip_audit_uses_project_env, security_commands
from pipelines.project.facts import ProjectFacts, read_facts
from pipelines.readers.findings import Finding, to_sarif
from pipelines.severity import Severity
from pipelines.stages.base import (
    READ_ONLY_SAFE_ENV,
    StageContext,
    StageResult,
    StageStatus,
    project_environment,
    relative,
)
from pipelines.stages.details import ScannerRecord, SecurityDetails

# detect-secrets detectors that only guess (entropy, a keyword next to a value): a commit hash
# or a docs example trips them, so they are not high severity. A known credential format is.
GUESSING_DETECTORS = {
    "Base64 High Entropy String": Severity.LOW,
    "Hex High Entropy String": Severity.LOW,
    "Secret Keyword": Severity.MEDIUM,
}


@dataclass(frozen=True)
class ScanOutcome:
    """One scanner's verdict."""

    status: StageStatus
    findings: tuple[Finding, ...] = ()
    reason: str = ""


def run(context: StageContext) -> StageResult[SecurityDetails]:
    """Run the configured scanners; write result.json and security.sarif."""
    settings = context.config.security
    facts = read_facts(context.project)
    python = sys.executable
    if pip_audit_uses_project_env(context.config):
        try:
            env = project_environment(context)
        except ToolError:
            env = None  # pip-audit then says it could not audit; the other scanners still run
        python = str(env.python) if env is not None else ""
    argvs = security_commands(context.config, facts, python)
    for argv in argvs.values():
        show_command(argv)
    # The scanners are independent subprocesses: run them side by side.
    with ThreadPoolExecutor(max_workers=max(1, len(settings.scanners))) as pool:
        futures = {
            name: pool.submit(_scan, name, Scan(context, facts, argvs[name], python))
            for name in settings.scanners
        }
    outcomes = {name: future.result() for name, future in futures.items()}
    findings = [f for outcome in outcomes.values() for f in outcome.findings]
    unchecked = {
        name: o.reason for name, o in outcomes.items() if o.status is StageStatus.NOT_CHECKED
    }
    reports = context.reports("security")
    sarif = to_sarif(findings, list(settings.scanners), {str(k): v for k, v in unchecked.items()})
    atomic.write_json(reports / SARIF, sarif)
    by_severity: dict[Severity, int] = {}
    for finding in findings:
        by_severity[finding.severity] = by_severity.get(finding.severity, 0) + 1
    # The stage records; only the gate judges findings against the environment's limits.
    status = StageStatus.NOT_CHECKED if unchecked else StageStatus.PASSED
    summary = f"{len(findings)} finding(s)"
    if by_severity:
        counts = sorted(by_severity.items(), key=lambda item: list(Severity).index(item[0]))
        summary += ": " + ", ".join(f"{n} {severity}" for severity, n in counts)
    if unchecked:
        summary += f"; not checked: {', '.join(sorted(unchecked))}"
    details = SecurityDetails(
        {
            name: ScannerRecord(o.status.value, len(o.findings), o.reason)
            for name, o in outcomes.items()
        },
        by_severity,
        {str(name): reason for name, reason in unchecked.items()},
    )
    result = StageResult("security", status, summary, details, tuple(findings))
    result.write(context)
    return result


@dataclass(frozen=True)
class Scan:
    """What one scanner needs: the project, its facts, its argv and the project's Python."""

    context: StageContext
    facts: ProjectFacts
    argv: list[str]
    python: str


def _scan(scanner: str, scan: Scan) -> ScanOutcome:
    try:
        return _SCANNERS[scanner](scan)
    except ToolError as exc:
        return ScanOutcome(StageStatus.NOT_CHECKED, reason=exc.message)


def _bandit(scan: Scan) -> ScanOutcome:
    context = scan.context
    done = run_tool(
        scan.argv,
        cwd=context.project,
        timeout=context.config.security.timeout,
        env=READ_ONLY_SAFE_ENV,
    )
    data = _json_or_none(done.stdout)
    if done.returncode not in (0, 1) or not isinstance(data, dict):
        return ScanOutcome(StageStatus.NOT_CHECKED, reason=f"bandit failed: {done.last_line()}")
    findings = tuple(
        Finding(
            tool="bandit",
            rule=str(item.get("test_id", "")),
            severity=Severity.parse(item.get("issue_severity"), Severity.LOW),
            message=str(item.get("issue_text", "")),
            file=relative(str(item.get("filename", "")), context.project),
            line=int(item.get("line_number", 0)),
        )
        for item in data.get("results", [])
    )
    return ScanOutcome(StageStatus.FAILED if findings else StageStatus.PASSED, findings)


def _detect_secrets(scan: Scan) -> ScanOutcome:
    context = scan.context
    done = run_tool(
        scan.argv,
        cwd=context.project,
        timeout=context.config.security.timeout,
        env=READ_ONLY_SAFE_ENV,
    )
    data = _json_or_none(done.stdout)
    if done.returncode != 0 or not isinstance(data, dict):
        return ScanOutcome(
            StageStatus.NOT_CHECKED, reason=f"detect-secrets failed: {done.last_line()}"
        )
    known = _baseline(scan)
    findings = []
    for file, items in sorted(data.get("results", {}).items()):
        for item in items:
            kind = str(item.get("type", "secret"))
            if (file, kind, item.get("hashed_secret")) in known:
                continue  # audited in the project's .secrets.baseline
            # Only the kind and the place: never the value, nor its hash.
            findings.append(
                Finding(
                    "detect-secrets",
                    kind,
                    GUESSING_DETECTORS.get(kind, Severity.HIGH),
                    f"possible {kind} (value not shown)",
                    relative(file, context.project),
                    int(item.get("line_number", 0)),
                )
            )
    return ScanOutcome(StageStatus.FAILED if findings else StageStatus.PASSED, tuple(findings))


def _baseline(scan: Scan) -> set[tuple[str, str, object]]:
    """Secrets the project's .secrets.baseline lists and has not marked as real."""
    if scan.facts.secrets_baseline is None:
        return set()
    path = scan.context.project / scan.facts.secrets_baseline
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        results = data.get("results", {}) if isinstance(data, dict) else {}
        return {
            (str(file), str(item.get("type")), item.get("hashed_secret"))
            for file, items in results.items()
            for item in items
            if isinstance(item, dict) and item.get("is_secret") is not True
        }
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ToolError(f"{path}: not a detect-secrets baseline ({exc})") from exc


def _pip_audit(scan: Scan) -> ScanOutcome:
    context = scan.context
    settings = context.config.security
    target = settings.requirements or "the project's environment"
    env: dict[str, str] = {}
    if pip_audit_uses_project_env(context.config):
        if not scan.python:
            return ScanOutcome(
                StageStatus.NOT_CHECKED, reason="the project's environment could not be built"
            )
        env["PIPAPI_PYTHON_LOCATION"] = scan.python
    elif not settings.requirements:
        target = "the SDK's environment"
    done = run_tool(scan.argv, cwd=context.project, timeout=settings.timeout, env=env)
    data = _json_or_none(done.stdout)
    if not isinstance(data, dict):
        return ScanOutcome(StageStatus.NOT_CHECKED, reason=f"pip-audit failed: {done.last_line()}")
    own = _normalise(scan.facts.name or "")
    # The project itself is on no index: not auditing it is not a gap in the audit.
    dependencies = [d for d in data.get("dependencies", []) if _normalise(d.get("name", "")) != own]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    findings = tuple(
        Finding(
            tool="pip-audit",
            rule=str(vuln.get("id", "")),
            severity=Severity.HIGH,
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


def _normalise(name: object) -> str:
    return re.sub(r"[-_.]+", "-", str(name)).lower()


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


_SCANNERS: dict[str, Callable[[Scan], ScanOutcome]] = {
    "bandit": _bandit,
    "detect-secrets": _detect_secrets,
    "pip-audit": _pip_audit,
}
