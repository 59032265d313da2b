"""The statistics the judges share: a one-sided Mann-Whitney U p-value and the median (the
stdlib's).

The U test is computed here rather than imported: it is the only statistic deploy analysis
needs, and a numerical library for it would weigh more than the rest of the install together.
It follows the usual choice of method (scipy's ``mannwhitneyu`` with ``method="auto"``, which
the tests compare it with on many random samples):

- the exact null distribution of U when either sample has at most 8 values and no value
  occurs twice (a tie makes the exact table wrong);
- otherwise the normal approximation with the tie correction of the variance and a continuity
  correction of 0.5.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from statistics import median
from typing import Literal

__all__ = ["median", "p_value"]

# Up to this many values in the smaller sample (and without ties) the exact distribution is used.
EXACT_MAX_SIZE = 8


def p_value(
    sample: Sequence[float], other: Sequence[float], alternative: Literal["greater", "less"]
) -> float:
    """The Mann-Whitney U p-value of ``sample`` being ``alternative`` than ``other``."""
    if len(set(sample) | set(other)) < 2:  # all values equal: nothing to rank
        return 1.0
    n1, n2 = len(sample), len(other)
    ranks = _ranks([*sample, *other])
    u_sample = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    u = u_sample if alternative == "greater" else n1 * n2 - u_sample
    tie_sizes = [count for count in Counter([*sample, *other]).values() if count > 1]
    if min(n1, n2) <= EXACT_MAX_SIZE and not tie_sizes:
        p = _exact_survival(round(u), min(n1, n2), max(n1, n2))
    else:
        p = _normal_survival(u, n1, n2, tie_sizes)
    return min(max(p, 0.0), 1.0)


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, tied values sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def _exact_survival(u: int, m: int, n: int) -> float:
    """P(U >= u) under the null hypothesis, for samples of m and n distinct values."""
    counts = _u_counts(m, n)
    if u <= 0:
        return 1.0
    if u > m * n:
        return 0.0
    return sum(counts[u:]) / math.comb(m + n, m)


@lru_cache(maxsize=64)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) orderings give each U from 0 to m*n.

    These are the coefficients of the Gaussian binomial coefficient [m+n choose m] in q,
    the product over i = 1..m of (1 - q^(n+i)) / (1 - q^i), computed in exact integers.
    """
    degree = m * n
    coefficients = [0] * (degree + 1)
    coefficients[0] = 1
    for i in range(1, m + 1):
        # Multiply by (1 - q^(n+i)), then divide by (1 - q^i): the quotient stays a polynomial.
        shift = n + i
        for k in range(degree, shift - 1, -1):
            coefficients[k] -= coefficients[k - shift]
        for k in range(i, degree + 1):
            coefficients[k] += coefficients[k - i]
    return tuple(coefficients)


def _normal_survival(u: float, n1: int, n2: int, tie_sizes: Sequence[int]) -> float:
    """P(U >= u) by the normal approximation, with tie and continuity corrections."""
    total = n1 + n2
    tie_term = sum(t**3 - t for t in tie_sizes)
    variance = n1 * n2 / 12 * ((total + 1) - tie_term / (total * (total - 1)))
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))
