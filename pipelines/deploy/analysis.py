"""Judging a new release against the stable one: thresholds and a Mann-Whitney U comparison
(as Kayenta does), per measurement, then the limits that end an analysis (as Argo Rollouts
does). Pure: samples in, verdicts out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec

from pipelines.config.deploy import AnalysisSettings, Threshold
from pipelines.deploy.strategies import Verdict
from pipelines.stats import median, p_value


@dataclass(frozen=True)
class Sample:
    """What one pool answered during one measurement: each request's latency and whether it
    failed. Sources without raw samples (Prometheus) give the rates directly."""

    latencies_ms: tuple[float, ...] = ()
    failures: tuple[bool, ...] = ()
    error_rate: float | None = None  # percent, when not computed from ``failures``
    p95_ms: float | None = None

    @property
    def count(self) -> int:
        """Requests answered or failed."""
        return len(self.failures)

    def rate(self) -> float | None:
        """Failed requests, in percent."""
        if self.error_rate is not None:
            return self.error_rate
        return 100.0 * sum(self.failures) / len(self.failures) if self.failures else None

    def p95(self) -> float | None:
        """The 95th percentile latency (nearest rank) of the requests that succeeded."""
        if self.p95_ms is not None:
            return self.p95_ms
        good = sorted(self.good_latencies())
        return good[max(0, math.ceil(0.95 * len(good)) - 1)] if good else None

    def good_latencies(self) -> list[float]:
        """Latencies of the requests that succeeded (a failure's latency says nothing)."""
        return [lat for lat, bad in zip(self.latencies_ms, self.failures, strict=True) if not bad]

    def summary(self) -> SampleSummary:
        """What the journal and the evidence keep of it (not every request)."""
        rate, p95 = self.rate(), self.p95()
        return SampleSummary(
            self.count,
            None if rate is None else round(rate, 3),
            None if p95 is None else round(p95, 2),
        )


class Classification(StrEnum):
    """A metric of the new release compared with the stable one (Kayenta's words)."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True)
class MetricResult:
    """One metric in one measurement."""

    name: str
    new: float | None
    stable: float | None
    limit: str = ""
    classification: Classification = Classification.PASS
    p_value: float | None = None
    failed: bool = False

    def summary(self) -> MetricSummary:
        """What the journal and the evidence keep of it (rounded)."""
        return MetricSummary(
            self.name,
            None if self.new is None else round(self.new, 3),
            None if self.stable is None else round(self.stable, 3),
            self.limit,
            self.classification,
            None if self.p_value is None else round(self.p_value, 6),
            self.failed,
        )


@dataclass(frozen=True)
class Measurement:
    """One measurement's verdict and the metrics behind it."""

    verdict: Verdict
    new: Sample
    stable: Sample | None
    metrics: tuple[MetricResult, ...] = ()
    detail: str = ""
    at: float = 0.0  # when it was taken (the controller's clock)

    def summary(self) -> MeasurementSummary:
        """What the journal and the evidence keep of it."""
        return MeasurementSummary(
            self.at,
            self.verdict,
            self.detail,
            self.new.summary(),
            None if self.stable is None else self.stable.summary(),
            [metric.summary() for metric in self.metrics],
        )


class SampleSummary(msgspec.Struct, frozen=True):
    """A pool's part of one measurement, as the journal and the evidence keep it."""

    requests: int
    error_rate: float | None  # percent
    p95_ms: float | None


class MetricSummary(msgspec.Struct, frozen=True):
    """One metric of one measurement, as the journal and the evidence keep it."""

    name: str
    new: float | None
    stable: float | None
    limit: str = ""
    classification: Classification = Classification.PASS
    p_value: float | None = None
    failed: bool = False


class MeasurementSummary(msgspec.Struct, frozen=True):
    """One measurement (the analysis series of the evidence is a list of these)."""

    at: float
    verdict: Verdict
    detail: str
    new: SampleSummary
    stable: SampleSummary | None
    metrics: list[MetricSummary] = []


def _compare(
    new: Sequence[float], stable: Sequence[float], settings: AnalysisSettings
) -> tuple[Classification, float]:
    """Mann-Whitney U both ways; a difference counts only when it is significant *and* the
    medians differ by more than the tolerance, relative and absolute: a significant shift of
    a millisecond is scheduling noise (a freshly started process, a busy core) that no user
    sees, and rolling back for it would make deploys flaky."""
    higher = p_value(new, stable, "greater")
    lower = p_value(new, stable, "less")
    new_mid, stable_mid = median(new), median(stable)
    shift = new_mid - stable_mid
    relative = abs(shift) / max(abs(stable_mid), 1e-9)
    matters = relative > settings.tolerance and abs(shift) > settings.latency_tolerance_ms
    if matters and shift > 0 and higher < settings.alpha:
        return Classification.HIGH, higher
    if matters and shift < 0 and lower < settings.alpha:
        return Classification.LOW, lower
    return Classification.PASS, min(higher, lower)


def _error_rate_compare(
    new: Sample, stable: Sample, settings: AnalysisSettings
) -> tuple[Classification, float | None]:
    # Failures as 0/1 samples: a rank test of proportions. The tolerance is in percentage
    # points, so a canary at 0.4% against a stable 0.1% is not "high".
    if not new.failures or not stable.failures:
        return Classification.PASS, None
    new_values = [1.0 if failed else 0.0 for failed in new.failures]
    stable_values = [1.0 if failed else 0.0 for failed in stable.failures]
    p = p_value(new_values, stable_values, "greater")
    new_rate, stable_rate = new.rate() or 0.0, stable.rate() or 0.0
    if p < settings.alpha and new_rate - stable_rate > settings.error_rate_tolerance:
        return Classification.HIGH, p
    return Classification.PASS, p


def judge(
    new: Sample, stable: Sample | None, settings: AnalysisSettings, at: float = 0.0
) -> Measurement:
    """One measurement: thresholds on the new release, then the comparison with stable."""
    if (new.count and new.count < settings.min_requests) or (not new.count and new.rate() is None):
        return Measurement(
            Verdict.INCONCLUSIVE,
            new,
            stable,
            detail=f"{new.count} requests answered, fewer than {settings.min_requests}",
            at=at,
        )
    rate_result = _threshold(
        "error_rate", new.rate(), stable.rate() if stable else None, settings.max_error_rate, "%"
    )
    latency_result = _threshold(
        "p95_ms", new.p95(), stable.p95() if stable else None, settings.max_p95_ms, " ms"
    )
    if settings.compare and stable is not None:
        rate_result = _with_comparison(rate_result, *_error_rate_compare(new, stable, settings))
        good_new, good_stable = new.good_latencies(), stable.good_latencies()
        if len(good_new) >= settings.min_requests and len(good_stable) >= settings.min_requests:
            latency_result = _with_comparison(
                latency_result, *_compare(good_new, good_stable, settings)
            )
    metrics = [rate_result, latency_result]
    failed = [metric.name for metric in metrics if metric.failed]
    verdict = Verdict.FAILED if failed else Verdict.SUCCESSFUL
    detail = f"failed: {', '.join(failed)}" if failed else "within limits"
    return Measurement(verdict, new, stable, tuple(metrics), detail, at)


def _threshold(
    name: str, value: float | None, stable: float | None, limit: Threshold | None, unit: str
) -> MetricResult:
    """A metric judged by its limit (when it has one and was measured)."""
    if limit is None or value is None:
        return MetricResult(name, value, stable)
    exceeded = limit.exceeded(value)
    return MetricResult(
        name,
        value,
        stable,
        f"{limit.op} {limit.value:g}{unit}",
        Classification.HIGH if exceeded else Classification.PASS,
        failed=exceeded,
    )


def _with_comparison(
    result: MetricResult, classification: Classification, p_value: float | None
) -> MetricResult:
    # Only "high" fails: a new release that is faster or fails less is welcome.
    return MetricResult(
        result.name,
        result.new,
        result.stable,
        result.limit or "not significantly higher than stable",
        classification if result.classification is Classification.PASS else result.classification,
        p_value,
        result.failed or classification is Classification.HIGH,
    )


def error_measurement(detail: str, at: float = 0.0) -> Measurement:
    """A measurement that could not be taken (a source unreachable)."""
    return Measurement(Verdict.ERROR, Sample(), None, detail=detail, at=at)


@dataclass
class AnalysisRun:
    """The measurements of one analysis step and the limits that end it."""

    settings: AnalysisSettings
    measurements: list[Measurement] = field(default_factory=list)

    def add(self, measurement: Measurement) -> Verdict | None:
        """Record a measurement; return the analysis' verdict once it is decided."""
        self.measurements.append(measurement)
        counts = {verdict: 0 for verdict in Verdict}
        for item in self.measurements:
            counts[item.verdict] += 1
        if counts[Verdict.FAILED] > self.settings.failure_limit:
            return Verdict.FAILED
        if counts[Verdict.ERROR] > self.settings.error_limit:
            return Verdict.ERROR
        if counts[Verdict.INCONCLUSIVE] > self.settings.inconclusive_limit:
            return Verdict.INCONCLUSIVE
        if len(self.measurements) >= self.settings.count:
            # Enough measurements; any error or failure within the limits still never
            # promotes on its own: the last one decides between success and inconclusive.
            return (
                Verdict.SUCCESSFUL
                if measurement.verdict is Verdict.SUCCESSFUL
                else Verdict.INCONCLUSIVE
            )
        return None
