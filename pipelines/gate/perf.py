"""Performance regressions: pytest-benchmark results compared per benchmark with a
Mann-Whitney U test and a minimum effect size, so noise alone (two runs of the same code)
never reads as a slowdown."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import msgspec

from pipelines.errors import ReportError
from pipelines.stats import median, p_value

COMPARISON = "comparison.json"  # written under reports/perf/, read by the gate


class Change(StrEnum):
    """What a benchmark did between the baseline and the candidate."""

    FASTER = "faster"
    SLOWER = "slower"
    UNCHANGED = "unchanged"


class Compared(msgspec.Struct, frozen=True, kw_only=True):
    """One benchmark in both runs (an entry of comparison.json's ``benchmarks``). ``ratio``
    (candidate median over baseline median, above 1: slower) and ``slowdown_percent`` (0
    unless significantly slower) are computed from the medians."""

    name: str
    baseline_median: float
    candidate_median: float
    ratio: float = 1.0
    p_value: float
    change: Change
    slowdown_percent: float = 0.0

    def __post_init__(self) -> None:
        base, new = self.baseline_median, self.candidate_median
        ratio = new / base if base else 1.0
        slower = 100 * (ratio - 1) if self.change is Change.SLOWER else 0.0
        msgspec.structs.force_setattr(self, "ratio", round(ratio, 4))
        msgspec.structs.force_setattr(self, "p_value", round(self.p_value, 6))
        msgspec.structs.force_setattr(self, "slowdown_percent", round(slower, 2))


class _Stats(msgspec.Struct):
    # Raw timings (seconds); pytest-benchmark writes them with --benchmark-save-data.
    data: list[Annotated[float, msgspec.Meta(ge=0)]] | None = None


class _Benchmark(msgspec.Struct):
    name: str
    fullname: str | None = None
    stats: _Stats = msgspec.field(default_factory=_Stats)


class BenchmarkFile(msgspec.Struct):
    """The part of a pytest-benchmark JSON file a comparison reads (other keys are ignored:
    the file is pytest-benchmark's, not ours)."""

    benchmarks: list[_Benchmark]


INPUT_LIMIT = 256 * 1024 * 1024  # a benchmark file with raw timings; refuse what cannot be one


def read_benchmarks(path: Path) -> dict[str, list[float]]:
    """Each benchmark's raw timings from a pytest-benchmark JSON file; a file of another
    shape, or a timing that is not a finite number, is a ReportError naming it."""
    hint = "write one with pytest --benchmark-json=PATH --benchmark-save-data"
    try:
        with path.open("rb") as handle:
            raw = handle.read(INPUT_LIMIT + 1)
        if len(raw) > INPUT_LIMIT:
            raise ValueError(f"larger than {INPUT_LIMIT // (1024 * 1024)} MiB")
        data = msgspec.json.decode(raw, type=BenchmarkFile)
    except (OSError, ValueError, msgspec.DecodeError) as exc:
        raise ReportError(
            str(path), f"not a pytest-benchmark JSON file ({_reason(exc)})", hint=hint
        ) from exc
    found: dict[str, list[float]] = {}
    for item in data.benchmarks:
        name = item.fullname or item.name
        timings = item.stats.data
        if timings is None or len(timings) < 2:
            raise ReportError(
                str(path),
                f"benchmark {name!r} has no raw timings to compare",
                hint="run pytest with --benchmark-save-data (a median alone cannot show "
                "whether a difference is noise)",
            )
        if not all(math.isfinite(t) for t in timings):
            raise ReportError(str(path), f"benchmark {name!r} has a timing that is not finite")
        found[name] = list(timings)
    return found


def _reason(exc: BaseException) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


def compare(
    baseline: Mapping[str, Sequence[float]],
    candidate: Mapping[str, Sequence[float]],
    *,
    alpha: float = 0.01,
    min_effect: float = 5.0,
) -> list[Compared]:
    """Benchmarks present in both; a change must be significant and at least ``min_effect``
    percent between medians."""
    results = []
    for name in sorted(set(baseline) & set(candidate)):
        before, after = baseline[name], candidate[name]
        old, new = median(before), median(after)
        effect = 100 * abs(new - old) / old if old else 0.0
        slower, faster = p_value(after, before, "greater"), p_value(after, before, "less")
        change, p = Change.UNCHANGED, min(slower, faster)
        if effect >= min_effect and slower < alpha and new > old:
            change, p = Change.SLOWER, slower
        elif effect >= min_effect and faster < alpha and new < old:
            change, p = Change.FASTER, faster
        results.append(
            Compared(name=name, baseline_median=old, candidate_median=new, p_value=p, change=change)
        )
    return results


def slowdowns(compared: Sequence[Compared]) -> dict[str, float]:
    """Significant slowdowns in percent, by benchmark (what the gate judges)."""
    return {c.name: round(c.slowdown_percent, 2) for c in compared if c.change is Change.SLOWER}


class ComparisonFile(msgspec.Struct, kw_only=True):
    """comparison.json: written by ``pipelines perf compare``, read by the gate."""

    baseline: str
    candidate: str
    alpha: float
    min_effect_percent: float
    max_slowdown_percent: float | None
    benchmarks: list[Compared]
    slowdowns: dict[str, float]
    over_limit: dict[str, float]


def read_slowdowns(path: Path) -> dict[str, float]:
    """The slowdowns of a comparison.json this tool wrote; ValueError when it is not one, or
    when a slowdown is not a finite number (NaN must never read as "no slowdown")."""
    try:
        data = msgspec.json.decode(path.read_bytes(), type=ComparisonFile)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from exc
    bad = [name for name, value in data.slowdowns.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"slowdown of {bad[0]!r} is not a finite number")
    return dict(data.slowdowns)
