"""The statistics the judges share: a Mann-Whitney U p-value and the median (the stdlib's)."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Literal

__all__ = ["median", "p_value"]


def p_value(
    sample: Sequence[float], other: Sequence[float], alternative: Literal["greater", "less"]
) -> float:
    """The Mann-Whitney U p-value of ``sample`` being ``alternative`` than ``other``."""
    if len(set(sample) | set(other)) < 2:  # all values equal: nothing to rank
        return 1.0
    # Imported here: scipy takes a while to import, and only a comparison needs it.
    from scipy.stats import mannwhitneyu  # noqa: PLC0415

    return float(mannwhitneyu(list(sample), list(other), alternative=alternative).pvalue)
