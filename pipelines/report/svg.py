"""Inline SVG charts for the HTML report: no script, no external request. Every mark carries
its value in a ``data-value`` attribute and a ``<title>``, so the numbers are in the page; every
chart shows its title and what its axes measure, and its top tick is at or above its highest
value. Every text that reaches the markup is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")
STATUS_COLOURS = {
    "passed": "#16a34a",
    "failed": "#dc2626",
    "skipped": "#a3a3a3",
    "cancelled": "#d97706",
}


@dataclass(frozen=True)
class Bar:
    """One bar of a Gantt chart: a row label, a start and an end (seconds), a status."""

    label: str
    start: float
    end: float
    status: str


@dataclass(frozen=True)
class Series:
    """A named line: (x, y) points."""

    name: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``x`` with a label (a decision point)."""

    x: float
    label: str


def _fmt(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def gantt(bars: Sequence[Bar], *, title: str, width: int = 760) -> str:
    """When each stage ran, in parallel where it did."""
    if not bars:
        return ""
    row, left, top = 26, 120, 46
    ticks = _ticks(max(bar.end for bar in bars) or 1.0)
    end = ticks[-1] or 1.0
    scale = (width - left - 20) / end
    height = top + row * len(bars) + 48
    parts = [
        f'<svg class="chart gantt" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="18" class="chart-title">{escape(title)}</text>',
    ]
    for index, bar in enumerate(bars):
        y = top + index * row
        x = left + bar.start * scale
        w = max((bar.end - bar.start) * scale, 1.5)
        colour = STATUS_COLOURS.get(bar.status, "#525252")
        seconds = bar.end - bar.start
        parts.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="label">'
            f"{escape(bar.label)}</text>"
        )
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{colour}" data-stage="{escape(bar.label)}" data-start="{_fmt(bar.start)}" '
            f'data-value="{_fmt(seconds)}"><title>{escape(bar.label)}: {escape(bar.status)}, '
            f"{seconds:.2f} s (from {bar.start:.2f} s)</title></rect>"
        )
    axis_y = top + row * len(bars) + 14
    for tick in ticks:
        x = left + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y - 10}" class="grid"/>'
            f'<text x="{x:.1f}" y="{axis_y + 4}" text-anchor="middle" class="tick">'
            f"{_fmt(tick)} s</text>"
        )
    parts.append(
        f'<text x="{left + (width - left - 20) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'class="axis-label x-label">seconds since the run started</text></svg>'
    )
    return "".join(parts)


def _ticks(end: float, count: int = 5) -> list[float]:
    """Round ticks from 0 whose last one is at or above ``end``."""
    raw = end / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [round(i * step, 6) for i in range(math.ceil(end / step - 1e-9) + 1)]
    return ticks if len(ticks) > 1 else [0.0, round(step, 6)]


def lines(
    series: Sequence[Series],
    *,
    title: str,
    unit: str,
    y_label: str,
    x_label: str,
    markers: Sequence[Marker] = (),
    x_unit: str = "",
    width: int = 760,
    height: int = 260,
) -> str:
    """Lines over x (seconds or run numbers), with labelled vertical markers."""
    points = [p for s in series for p in s.points]
    if not points:
        return ""
    per_row = 4  # legend entries per row
    left, right, bottom = 72, 20, 50
    top = 46 + 18 * ((len(series) - 1) // per_row)
    height += top - 46
    xs = [p[0] for p in points] + [m.x for m in markers]
    x0, x1 = min([*xs, 0.0]) if x_unit.strip() == "s" else min(xs), max(xs)  # time from 0
    y_ticks = _ticks(max(p[1] for p in points) or 1.0)  # all zero: still a readable axis
    y1 = y_ticks[-1]
    sx = (width - left - right) / ((x1 - x0) or 1.0)
    sy = (height - top - bottom) / y1

    def at(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) * sx, height - bottom - y * sy

    parts = [
        f'<svg class="chart lines" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="18" class="chart-title">{escape(title)}</text>',
        f'<text class="axis-label y-label" text-anchor="middle" '
        f'transform="translate(14 {(top + height - bottom) / 2:.1f}) rotate(-90)">'
        f"{escape(y_label)}</text>",
        f'<text x="{left + (width - left - right) / 2:.1f}" y="{height - 6}" '
        f'text-anchor="middle" class="axis-label x-label">{escape(x_label)}</text>',
    ]
    for tick in y_ticks:
        _, y = at(x0, tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{_fmt(tick)}{escape(unit)}</text>"
        )
    whole = all(float(p[0]).is_integer() for p in points) and x1 - x0 <= 30
    x_ticks = [float(n) - x0 for n in range(int(x0), int(x1) + 1)] if whole else None
    for tick in x_ticks or (_ticks(x1 - x0) if x1 > x0 else [0.0]):
        x, _ = at(x0 + tick, 0)
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="tick">'
            f"{_fmt(x0 + tick)}{escape(x_unit)}</text>"
        )
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(*p) for p in item.points))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}" '
            f'data-series="{escape(item.name)}"/>'
        )
        for x_value, y_value in item.points:
            x, y = at(x_value, y_value)
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}" '
                f'data-series="{escape(item.name)}" data-x="{_fmt(x_value)}" '
                f'data-value="{_fmt(y_value)}"><title>{escape(item.name)}: '
                f"{_fmt(y_value)}{escape(unit)}</title></circle>"
            )
        legend_x = left + (index % per_row) * 170
        legend_y = 24 + 18 * (index // per_row)
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{legend_x + 18}" y="{legend_y + 10}" class="legend">'
            f"{escape(item.name)}</text>"
        )
    for number, marker in enumerate(markers):
        x, _ = at(marker.x, 0)
        label_y = top + 12 + 14 * number  # stacked: decision points are often close
        near_edge = x > width - right - 130
        anchor, label_x = ("end", x - 4) if near_edge else ("start", x + 4)
        parts.append(
            f'<line class="marker" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" '
            f'y2="{height - bottom}" stroke="#111" stroke-dasharray="4 3" '
            f'data-label="{escape(marker.label)}" data-x="{_fmt(marker.x)}"/>'
            f'<text x="{label_x:.1f}" y="{label_y}" text-anchor="{anchor}" '
            f'class="marker-label">'
            f"{escape(marker.label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
