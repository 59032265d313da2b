"""The gate stage: read the reports, apply the environment's thresholds, write decision.json."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from pipelines import codec
from pipelines.config.health import CheckStatus, HealthDetails
from pipelines.errors import ReportError, UsageError
from pipelines.gate.perf import COMPARISON, read_slowdowns
from pipelines.gate.rules import Evidence, GateDecision, GateStatus, evaluate
from pipelines.layout import COVERAGE, GATE_DECISION, JUNIT, REPORT_LOG, RESULT, logical
from pipelines.readers.coverage import Coverage, read_coverage
from pipelines.readers.junit import TestSummary, identity_hash, read_junit
from pipelines.readers.reportlog import junit_identities, read_reportlog
from pipelines.source_tree import tree_state
from pipelines.stages.base import StageContext, StageResult, StageStatus, read_result
from pipelines.stages.details import SecurityDetails

DEFAULT_JUNIT = logical("test", JUNIT)
DEFAULT_REPORTLOG = logical("test", REPORT_LOG)
DEFAULT_COVERAGE = logical("test", COVERAGE)
DEFAULT_SECURITY = logical("security", RESULT)
DEFAULT_HEALTH = logical("health", RESULT)


class GateDetails(msgspec.Struct, frozen=True):
    """The decision (also in reports/gate/decision.json)."""

    decision: GateDecision


def decide(
    context: StageContext,
    *,
    junit: Sequence[Path] = (),
    coverage: Path | None = None,
    reportlog: Sequence[Path] = (),
) -> GateDecision:
    """Gather evidence and decide. Explicit paths must exist; default ones may be missing."""
    explicit = bool(junit)
    for path in [*junit, *([coverage] if coverage else []), *reportlog]:
        if path.is_dir():
            raise UsageError(f"{path}: a directory, not a report file", hint="name the file")
        if not path.is_file():
            raise UsageError(f"{path}: no such report file", hint="check the path")
    junit_paths = list(junit) or _default_junit(context)
    default_log = [] if explicit else [context.layout.report(DEFAULT_REPORTLOG)]
    reportlog_paths = list(reportlog) or default_log
    coverage_path = coverage or (None if explicit else _default_coverage(context))
    problems: list[str] = []
    tests = _read_tests(junit_paths, reportlog_paths, problems)
    cov = _read_coverage(coverage_path, problems)
    findings, unchecked = _read_security(context, problems)
    health_expected = bool(context.environment.health.checks) and not explicit
    evidence = Evidence(
        tests=tests,
        coverage=cov,
        findings=findings,
        security_expected=context.config.stage("security").enabled,
        unchecked_scanners=unchecked,
        problems=tuple(problems),
        health_expected=health_expected,
        health_failures=_read_health(context, problems) if health_expected else None,
        slowdowns=None if explicit else _read_slowdowns(context, problems),
    )
    return evaluate(context.env, evidence, context.environment.gate)


def _default_junit(context: StageContext) -> list[Path]:
    """The test stage's JUnit report and those of the enabled custom stages that write one."""
    config = context.config
    paths = [context.layout.report(DEFAULT_JUNIT)] if config.stage("test").enabled else []
    for custom in config.custom:
        if config.stage(custom.name).enabled:
            paths += [context.layout.report(path) for path in custom.junit]
    return paths or [context.layout.report(DEFAULT_JUNIT)]


def _default_coverage(context: StageContext) -> Path:
    """The test stage's coverage, else the first custom stage's that exists."""
    default = context.layout.report(DEFAULT_COVERAGE)
    if context.config.stage("test").enabled:
        return default
    for custom in context.config.custom:
        for path in custom.coverage:
            if context.layout.report(path).is_file():
                return context.layout.report(path)
    return default


def _read_tests(
    junit: Sequence[Path], reportlogs: Sequence[Path], problems: list[str]
) -> TestSummary | None:
    missing = [p for p in junit if not p.is_file()]
    if missing:
        problems.extend(f"{p}: missing (did the test stage run?)" for p in missing)
        return None
    flaky_ids: set[int] = set()
    rerun_ids: set[int] = set()
    for path in reportlogs:
        if not path.is_file():
            continue
        try:
            reruns = read_reportlog(path)
        except ReportError as exc:
            problems.append(exc.message)
            continue
        for nodeid in reruns.rerun_then_passed:
            flaky_ids.update(identity_hash(*ident) for ident in junit_identities(nodeid))
        for nodeid in reruns.rerun_then_failed:
            rerun_ids.update(identity_hash(*ident) for ident in junit_identities(nodeid))
    try:
        return read_junit(junit, flaky_ids=flaky_ids, rerun_ids=rerun_ids)
    except ReportError as exc:
        problems.append(exc.message)
        return None


def _read_coverage(path: Path | None, problems: list[str]) -> Coverage | None:
    if path is None or not path.is_file():
        return None
    try:
        return read_coverage(path)
    except ReportError as exc:
        problems.append(exc.message)
        return None


def _read_security(
    context: StageContext, problems: list[str]
) -> tuple[dict[str, int] | None, dict[str, str]]:
    if not context.config.stage("security").enabled:
        return None, {}
    path = context.layout.report(DEFAULT_SECURITY)
    if not path.is_file():
        return None, {}
    try:
        details = read_result(path, SecurityDetails).details
    except ReportError as exc:
        problems.append(exc.message)
        return None, {}
    by_severity = {severity.value: count for severity, count in details.by_severity.items()}
    return by_severity, dict(details.unchecked)


def _read_health(context: StageContext, problems: list[str]) -> tuple[str, ...] | None:
    path = context.layout.report(DEFAULT_HEALTH)
    if not path.is_file():
        return None
    try:
        details = read_result(path, HealthDetails).details
    except ReportError as exc:
        problems.append(exc.message)
        return None
    return tuple(
        check.name
        for check in details.checks
        if check.critical and check.status is not CheckStatus.PASSED
    )


def write_decision(context: StageContext, decision: GateDecision) -> Path:
    """Write reports/gate/decision.json atomically."""
    path = context.layout.report(GATE_DECISION)
    codec.write(path, decision)
    return path


def judge(context: StageContext) -> tuple[StageResult[GateDetails], GateDecision]:
    """Decide from the default report paths, record the decision bound to the commit and
    tree it judged, and hand it back typed."""
    decision = decide(context).bound_to(tree_state(context.project, context.environ))
    write_decision(context, decision)
    status = StageStatus.PASSED if decision.status is GateStatus.OPEN else StageStatus.FAILED
    summary = f"gate {decision.status.value}"
    if decision.reasons:
        summary += ": " + "; ".join(decision.reasons)
    result = StageResult("gate", status, summary, details=GateDetails(decision))
    result.write(context)
    return result, decision


def run(context: StageContext) -> StageResult[GateDetails]:
    """The gate as a stage."""
    return judge(context)[0]


def _read_slowdowns(context: StageContext, problems: list[str]) -> dict[str, float] | None:
    """The benchmark comparison `pipelines perf compare` left, if any."""
    path = context.layout.report(logical("perf", COMPARISON))
    if not path.is_file():
        return None
    try:
        return read_slowdowns(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.append(f"{path}: unreadable ({exc})")
        return None
