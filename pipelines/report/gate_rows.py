"""The gate's rules as rows of text: what the table shows (``report.summary.gate_table``) and
what a gate stage writes to its log, where no terminal reads it and rich would cost a stage
process a third of its time."""

from __future__ import annotations

from typing import Any

from pipelines import safe_text
from pipelines.gate.rules import GateDecision

HEADERS = ("rule", "measured", "threshold", "verdict", "detail")


def cell(value: Any) -> str:
    """A value as a table cell."""
    if isinstance(value, float):
        return f"{value:.2f}"
    return "—" if value is None else str(value)


def title(decision: GateDecision) -> str:
    """``gate (ENV): STATUS``, the environment's control characters shown escaped."""
    return f"gate ({safe_text.terminal(decision.env)}): {decision.status.value}"


def rows(decision: GateDecision) -> list[tuple[str, ...]]:
    """A row per rule, in ``HEADERS`` order: data, never markup, control characters escaped."""
    return [
        tuple(
            safe_text.terminal(text)
            for text in (
                cell(rule.name),
                cell(rule.measured),
                f"{rule.comparison} {cell(rule.threshold)}",
                rule.verdict.value,
                cell(rule.detail),
            )
        )
        for rule in decision.rules
    ]


def plain(decision: GateDecision) -> str:
    """The table as aligned plain text (a log's)."""
    table = [HEADERS, *rows(decision)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    return "\n".join([title(decision), *lines])
