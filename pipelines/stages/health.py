"""The health stage: the environment's health checks, written to reports/health/result.json."""

from __future__ import annotations

from pipelines.config.health import HealthDetails
from pipelines.health.run import run_health
from pipelines.stages.base import StageContext, StageResult, StageStatus


def run(context: StageContext) -> StageResult[HealthDetails]:
    """Run every check; the stage fails when a critical check fails."""
    report = run_health(context.env, context.environment.health)
    failures = report.critical_failures
    status = StageStatus.FAILED if failures else StageStatus.PASSED
    summary = f"{report.status}: {len(report.results)} check(s)"
    if failures:
        summary += "; failing: " + ", ".join(f"{r.name} ({r.detail})" for r in failures)
    result = StageResult("health", status, summary, details=report.details())
    result.write(context)
    return result
