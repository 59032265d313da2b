"""The Mann-Whitney U test of pipelines.stats against scipy's, on many random samples."""

from __future__ import annotations

import random
from typing import Literal

import pytest
from scipy.stats import mannwhitneyu

from pipelines.stats import median, p_value

ALTERNATIVES: tuple[Literal["greater", "less"], ...] = ("greater", "less")


def _scipy(sample: list[float], other: list[float], alternative: str) -> float:
    return float(mannwhitneyu(sample, other, alternative=alternative).pvalue)


@pytest.mark.parametrize("seed", range(40))
def test_exact_small_samples_without_ties_match_scipy(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible samples, not secrets
    for _ in range(25):
        sizes = (rng.randint(1, 8), rng.randint(1, 30))
        n1, n2 = sizes if rng.random() < 0.5 else sizes[::-1]
        values = rng.sample(range(10_000), n1 + n2)  # distinct: the exact table applies
        sample, other = [v / 7 for v in values[:n1]], [v / 7 for v in values[n1:]]
        for alternative in ALTERNATIVES:
            assert p_value(sample, other, alternative) == pytest.approx(
                _scipy(sample, other, alternative), rel=1e-9, abs=1e-12
            )


@pytest.mark.parametrize("seed", range(40))
def test_ties_and_large_samples_match_scipy(seed: int) -> None:
    rng = random.Random(1000 + seed)  # noqa: S311 - reproducible samples, not secrets
    for _ in range(25):
        n1, n2 = rng.randint(1, 60), rng.randint(1, 60)
        # Few distinct values give many ties; a wide range gives large samples without them.
        spread = rng.choice((3, 10, 1_000_000))
        sample = [float(rng.randint(0, spread)) for _ in range(n1)]
        other = [float(rng.randint(0, spread) + rng.choice((0, 1))) for _ in range(n2)]
        if len(set(sample) | set(other)) < 2:
            continue
        for alternative in ALTERNATIVES:
            assert p_value(sample, other, alternative) == pytest.approx(
                _scipy(sample, other, alternative), rel=1e-9, abs=1e-12
            )


def test_a_clear_shift_is_significant_both_ways() -> None:
    slow, fast = [float(v) for v in range(50, 70)], [float(v) for v in range(20)]
    assert p_value(slow, fast, "greater") < 1e-6
    assert p_value(slow, fast, "less") > 0.99
    assert p_value(fast, slow, "less") < 1e-6


def test_all_values_equal_is_no_evidence() -> None:
    assert p_value([3.0, 3.0], [3.0, 3.0, 3.0], "greater") == 1.0


def test_median() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
