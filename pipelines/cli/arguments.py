"""Types of command-line values that argparse checks before anything runs (a bad value is a
usage error, exit 2, naming the option)."""

from __future__ import annotations

import argparse
import math


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def probability(text: str) -> float:
    """A significance level: strictly between 0 and 1 (0 would never see a change)."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a value between 0 and 1, such as 0.01, got {text!r}"
        )
    return value


def percent(text: str) -> float:
    """A finite, non-negative percentage (NaN would compare as 'not over the limit')."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a percentage of 0 or more, got {text!r}")
    return value


def non_negative(text: str) -> float:
    """A finite number of 0 or more (a rate where 0 means none)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
    return value
