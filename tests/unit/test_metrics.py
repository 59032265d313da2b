"""Pipeline metrics: names that follow Prometheus' rules, values taken from the reports."""

from __future__ import annotations

import json

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipelines import codec
from pipelines.config.pipeline import GateThresholds
from pipelines.errors import UsageError
from pipelines.gate.rules import Evidence, decision_of, evaluate
from pipelines.monitoring.metrics import (
    RunMetrics,
    build_registry,
    check_label,
    check_name,
    from_reports,
)
from pipelines.readers.coverage import Coverage
from pipelines.readers.junit import TestSummary
from pipelines.runners.results import RunStatus, StageRun


@pytest.mark.parametrize("name", ["pipeline_tests", "pipeline_stage_duration_seconds"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["pipeline-tests", "9pipeline", "pipeline:ratio", "PipelineTests", "tests_total", "__pipeline"],
)
def test_bad_names(name: str) -> None:
    with pytest.raises(UsageError):
        check_name(name)


@pytest.mark.parametrize("label", ["__name", "stage-name", "1stage"])
def test_bad_labels(label: str) -> None:
    with pytest.raises(UsageError):
        check_label(label)


def test_every_exported_name_is_valid_and_labelled() -> None:
    metrics = RunMetrics(
        "shop",
        "ci",
        {"lint": 1.5, "test": 9.0},
        {"lint": True, "test": False},
        {"passed": 9, "failed": 1},
        0.9,
        0.95,
        2,
        0.8,
        False,
        1_700_000_000.0,
        deploy_seconds=42.0,
        deploy_succeeded=True,
        rollback_seconds=7.0,
        rollback_at=1_700_000_100.0,
    )
    text = generate_latest(build_registry(metrics)).decode()
    families = list(text_string_to_metric_families(text))
    names = {f.name for f in families}
    assert {
        "pipeline_stage_duration_seconds",
        "pipeline_test_pass_ratio",
        "pipeline_flaky_tests",
        "pipeline_coverage_ratio",
        "pipeline_gate_open",
        "pipeline_deploy_duration_seconds",
        "pipeline_rollback_duration_seconds",
    } <= names
    for family in families:
        check_name(family.name)
        for sample in family.samples:
            assert sample.labels["pipeline"] == "shop"
            assert sample.labels["env"] == "ci"


def test_metrics_from_a_decision() -> None:
    # A decision the gate itself makes (and decision.json holds), read back from its JSON.
    tests = TestSummary(passed=50, failed=1, skipped=3, flaky=2)
    coverage = Coverage(
        "c.xml", lines_covered=90, lines_valid=100, branches_covered=0, branches_valid=0
    )
    made = evaluate("production", Evidence(tests, coverage, {}), GateThresholds(98.0))
    decision = decision_of(json.loads(json.dumps(codec.to_builtins(made))))
    stages = [StageRun("test", RunStatus.PASSED, 3.5)]
    measured = from_reports("shop", "production", decision, stages, 10.0)
    assert measured.tests == {
        "passed": 48,
        "flaky": 2,
        "failed": 1,
        "error": 0,
        "skipped": 3,
        "xfailed": 0,
    }
    assert measured.pass_ratio == pytest.approx(50 / 51)
    assert measured.min_pass_ratio == pytest.approx(0.98)
    assert measured.coverage_ratio == pytest.approx(0.9)
    assert measured.gate_open is True
    assert measured.stage_durations == {"test": 3.5}
