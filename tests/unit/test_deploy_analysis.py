"""The judges: thresholds with an explicit comparison, Mann-Whitney U against stable, and the
limits that end an analysis."""

from __future__ import annotations

import random

from msgspec.structs import replace

from pipelines.config.deploy import AnalysisSettings, Threshold
from pipelines.deploy.analysis import (
    AnalysisRun,
    Classification,
    Sample,
    error_measurement,
    judge,
)
from pipelines.deploy.strategies import Verdict

SETTINGS = AnalysisSettings()


def sample(n: int, error_rate: float, latency: float, seed: int) -> Sample:
    rng = random.Random(seed)  # noqa: S311 - reproducible samples, not secrets
    failures = tuple(i < round(n * error_rate) for i in range(n))
    latencies = tuple(rng.lognormvariate(0, 0.3) * latency for _ in range(n))
    return Sample(latencies, failures)


def test_thirty_percent_errors_fail_the_threshold() -> None:
    result = judge(sample(40, 0.3, 5, 1), sample(40, 0.0, 5, 2), SETTINGS)
    assert result.verdict is Verdict.FAILED
    rate = result.metrics[0]
    assert rate.name == "error_rate" and rate.failed and rate.new == 30.0


def test_the_comparison_operator_is_explicit() -> None:
    five = Sample(tuple([1.0] * 100), tuple(i < 5 for i in range(100)))
    strict = replace(SETTINGS, max_error_rate=Threshold(5.0, ">"), compare=False)
    inclusive = replace(SETTINGS, max_error_rate=Threshold(5.0, ">="), compare=False)
    assert judge(five, None, strict).verdict is Verdict.SUCCESSFUL
    assert judge(five, None, inclusive).verdict is Verdict.FAILED


def test_a_slower_canary_is_high_and_a_faster_one_passes() -> None:
    settings = replace(SETTINGS, max_p95_ms=None)
    # Significant but a few milliseconds: noise no user sees, never a rollback.
    jitter = judge(sample(40, 0, 10, 3), sample(40, 0, 5, 4), settings)
    assert jitter.verdict is Verdict.SUCCESSFUL
    slow = judge(sample(40, 0, 60, 3), sample(40, 0, 30, 4), settings)
    assert slow.verdict is Verdict.FAILED
    latency = slow.metrics[1]
    assert latency.classification is Classification.HIGH and latency.p_value is not None
    assert latency.p_value < settings.alpha
    fast = judge(sample(40, 0, 30, 5), sample(40, 0, 60, 6), settings)
    assert fast.verdict is Verdict.SUCCESSFUL
    assert fast.metrics[1].classification is Classification.LOW


def test_healthy_canaries_are_almost_never_rolled_back() -> None:
    # Same distribution on both sides: fewer than 1 in 100 analyses may fail.
    failed = sum(
        judge(sample(40, 0.0, 5, seed), sample(40, 0.0, 5, seed + 10_000), SETTINGS).verdict
        is Verdict.FAILED
        for seed in range(300)
    )
    assert failed < 3


def test_too_few_requests_is_inconclusive_and_an_unreachable_source_is_an_error() -> None:
    assert judge(sample(3, 0, 5, 7), None, SETTINGS).verdict is Verdict.INCONCLUSIVE
    assert error_measurement("Prometheus unreachable").verdict is Verdict.ERROR


def test_limits_end_an_analysis_as_argo_rollouts_does() -> None:
    settings = replace(SETTINGS, count=3, failure_limit=1, inconclusive_limit=0)
    run = AnalysisRun(settings)
    good = judge(sample(40, 0, 5, 8), None, settings)
    bad = judge(sample(40, 0.5, 5, 9), None, settings)
    assert run.add(bad) is None  # one failure is within the limit
    assert run.add(good) is None
    assert run.add(bad) is Verdict.FAILED
    errors = AnalysisRun(replace(settings, error_limit=0))
    assert errors.add(error_measurement("down")) is Verdict.ERROR
    done = AnalysisRun(replace(settings, count=2))
    assert done.add(good) is None
    assert done.add(good) is Verdict.SUCCESSFUL
