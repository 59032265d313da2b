"""Pipeline metrics in the Prometheus exposition format (prometheus-client).

Two sinks: a textfile for node_exporter's textfile collector (written atomically), and a
Pushgateway, grouped by pipeline, environment and job. Prometheus must scrape the Pushgateway
with ``honor_labels: true`` so these labels survive (docs/monitoring.md).
"""

from __future__ import annotations

import re
import urllib.error
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from pipelines.errors import ToolError, UsageError
from pipelines.gate.rules import GateDecision, GateStatus
from pipelines.runners.results import RunStatus, StageRun

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TEXTFILE_NAME = "test_metrics.prom"
PREFIX = "pipeline_"


@dataclass(frozen=True)
class RunMetrics:
    """What one run measured. Absent values are simply not exported."""

    pipeline: str
    env: str
    stage_durations: Mapping[str, float] = field(default_factory=dict)
    stage_passed: Mapping[str, bool] = field(default_factory=dict)
    tests: Mapping[str, int] = field(default_factory=dict)  # outcome -> count
    pass_ratio: float | None = None
    min_pass_ratio: float | None = None
    flaky: int | None = None
    coverage_ratio: float | None = None
    gate_open: bool | None = None
    finished_at: float | None = None  # Unix time
    deploy_seconds: float | None = None
    deploy_succeeded: bool | None = None
    rollback_seconds: float | None = None
    rollback_at: float | None = None
    audit_entries: int | None = None  # the flags audit log's head, to notice a rollback of it


def check_name(name: str) -> str:
    """A metric name that follows Prometheus' rules and conventions, or a UsageError."""
    if not METRIC_NAME.fullmatch(name) or ":" in name:
        raise UsageError(
            f"{name!r} is not a valid metric name (letters, digits, '_'; "
            "colons are for recording rules)"
        )
    if name.startswith("__") or not name.startswith(PREFIX) or name != name.lower():
        raise UsageError(f"{name!r}: metric names here are lower snake case under {PREFIX!r}")
    return name


def check_label(name: str) -> str:
    """A label name that follows Prometheus' rules (``__`` is reserved)."""
    if not LABEL_NAME.fullmatch(name) or name.startswith("__"):
        raise UsageError(f"{name!r} is not a valid label name")
    return name


def build_registry(metrics: RunMetrics) -> CollectorRegistry:
    """A registry holding every measured value, labelled with pipeline and env."""
    registry = CollectorRegistry()
    base = {"pipeline": metrics.pipeline, "env": metrics.env}

    def gauge(name: str, help_text: str, value: float, **labels: str) -> None:
        all_labels = {**base, **labels}
        metric = _gauges.get(name)
        if metric is None:
            metric = Gauge(
                check_name(name), help_text, [check_label(k) for k in all_labels], registry=registry
            )
            _gauges[name] = metric
        metric.labels(**all_labels).set(value)

    _gauges: dict[str, Gauge] = {}
    for stage, seconds in metrics.stage_durations.items():
        gauge(
            "pipeline_stage_duration_seconds",
            "Duration of each stage of the last run.",
            seconds,
            stage=stage,
        )
    for stage, passed in metrics.stage_passed.items():
        gauge(
            "pipeline_stage_success",
            "1 when the stage passed in the last run.",
            float(passed),
            stage=stage,
        )
    for outcome, count in metrics.tests.items():
        gauge(
            "pipeline_tests",
            "Logical tests of the last run by final outcome.",
            count,
            outcome=outcome,
        )
    optional = [
        ("pipeline_test_pass_ratio", "Passed / executed tests (0-1).", metrics.pass_ratio),
        (
            "pipeline_gate_min_pass_ratio",
            "The environment's gate threshold (0-1).",
            metrics.min_pass_ratio,
        ),
        ("pipeline_flaky_tests", "Tests that passed only on a rerun.", metrics.flaky),
        ("pipeline_coverage_ratio", "Covered / valid lines (0-1).", metrics.coverage_ratio),
        ("pipeline_gate_open", "1 when the gate was open.", _flag(metrics.gate_open)),
        (
            "pipeline_last_run_timestamp_seconds",
            "When the last run finished (Unix time).",
            metrics.finished_at,
        ),
        (
            "pipeline_deploy_duration_seconds",
            "Duration of the last deploy.",
            metrics.deploy_seconds,
        ),
        (
            "pipeline_last_deploy_success",
            "1 when the last deploy was promoted.",
            _flag(metrics.deploy_succeeded),
        ),
        (
            "pipeline_rollback_duration_seconds",
            "Duration of the last rollback.",
            metrics.rollback_seconds,
        ),
        (
            "pipeline_last_rollback_timestamp_seconds",
            "When the last rollback finished.",
            metrics.rollback_at,
        ),
        (
            "pipeline_audit_log_entries",
            "Entries in the flags audit log when the last run started (never decreases).",
            metrics.audit_entries,
        ),
    ]
    for name, help_text, value in optional:
        if value is not None:
            gauge(name, help_text, float(value))
    return registry


def _flag(value: bool | None) -> float | None:
    return None if value is None else float(value)


def write_textfile(registry: CollectorRegistry, path: Path) -> Path:
    """Write the textfile atomically (prometheus-client writes a temporary file, then renames)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return path


def push(registry: CollectorRegistry, url: str, job: str, metrics: RunMetrics) -> None:
    """Replace this pipeline/env group on the Pushgateway."""
    grouping = {"pipeline": metrics.pipeline, "env": metrics.env}
    try:
        push_to_gateway(url, job=job, registry=registry, grouping_key=grouping, timeout=10)
    except (urllib.error.URLError, OSError) as exc:
        raise ToolError(
            f"pushing metrics to {url} failed: {exc}",
            hint="check the Pushgateway URL (metrics.pushgateway)",
        ) from exc


def from_reports(
    pipeline: str,
    env: str,
    decision: GateDecision | None,
    stages: Sequence[StageRun],
    finished_at: float | None = None,
) -> RunMetrics:
    """Measure a run from its gate decision and the stages of its run manifest."""
    durations = {s.name: s.duration for s in stages}
    passed = {s.name: s.status is RunStatus.PASSED for s in stages}
    if decision is None:
        return RunMetrics(pipeline, env, durations, passed, finished_at=finished_at)
    tests, coverage = decision.evidence.tests, decision.evidence.coverage
    counts: dict[str, int] = {}
    pass_ratio = None
    if tests is not None:
        counts = {
            "passed": tests.passed - tests.flaky,
            "flaky": tests.flaky,
            "failed": tests.failed,
            "error": tests.errors,
            "skipped": tests.skipped,
            "xfailed": tests.xfailed,
        }
        pass_ratio = None if tests.pass_rate is None else tests.pass_rate / 100
    line = coverage.percent("line") if coverage is not None else None
    min_ratio = next(
        (
            float(rule.threshold) / 100
            for rule in decision.rules
            if rule.name == "pass_rate" and isinstance(rule.threshold, int | float)
        ),
        None,
    )
    return RunMetrics(
        pipeline,
        env,
        durations,
        passed,
        counts,
        pass_ratio,
        min_ratio,
        tests.flaky if tests is not None else None,
        None if line is None else line / 100,
        decision.status is GateStatus.OPEN,
        finished_at,
    )
