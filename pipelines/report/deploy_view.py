"""One deploy, rollback or drill in the HTML report: a heading that says what happened, the
analysis charts with the weight steps and decision points, canary and stable side by side at
each step, the moments in time order, and a drill's measurements.

Evidence files are read back as loose JSON, so every value is checked before it is used
(a number must be a finite number) and escaped before it reaches the markup: a file the
service or a person could have edited never becomes markup or a request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from pipelines import codec
from pipelines.report.history import DeployEntry
from pipelines.report.svg import Marker, Series, lines

TIMELINE_MARKERS = ("exposed", "decision", "traffic_on_stable")
SAMPLE_METRICS = (("p95_ms", " ms", "p95 latency"), ("error_rate", "%", "error rate"))


def number(value: object) -> float | None:
    """A finite number, or None for anything else (text, booleans, NaN, objects)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def text(value: object) -> str:
    """Any value as escaped text: numbers rounded, nothing as a dash."""
    if value is None:
        return "—"
    amount = number(value)
    if amount is not None and isinstance(value, float):
        return f"{amount:.2f}"
    return escape(str(value))


def _objects(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# The deploy files are decoded into their declared types at the file boundary; this view
# walks their plain JSON form, as written.
def _metrics(entry: DeployEntry) -> Mapping[str, Any]:
    return _mapping(codec.to_builtins(entry.metrics))


def _timeline(entry: DeployEntry) -> Mapping[str, Any]:
    return _mapping(codec.to_builtins(entry.timeline))


def table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """A table; each cell is (escaped html, css class)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{escape(c)}">{t}</td>' for t, c in row) + "</tr>"
        for row in rows
    )
    rows_html = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
    return f'<div class="scroll"><table>{rows_html}</table></div>'


def headline(entry: DeployEntry) -> tuple[str, str]:
    """What happened, in words, and its colour: a drill is judged by its own verdict (its
    rollback is the goal), a rollback asked for by hand is neither good nor bad news."""
    drill = None if entry.drill is None else codec.to_builtins(entry.drill)
    outcome = entry.outcome
    if drill is not None:
        if drill.get("passed") is True:
            return "drill passed: the fault was caught and rolled back", "pass"
        return "drill FAILED", "fail"
    if entry.action == "rollback":
        if outcome == "failed":
            return "rollback failed", "fail"
        return "rolled back on request", "neutral"
    words = {
        "succeeded": ("succeeded", "pass"),
        "rolled-back": ("rolled back automatically", "fail"),
        "paused": ("paused for a decision", "warn"),
        "failed": ("failed", "fail"),
    }
    return words.get(outcome, (outcome, "warn"))


@dataclass(frozen=True)
class StepView:
    """An analysis step: the new release's share of traffic and what was measured then."""

    index: int
    weight: float | None
    start: float
    end: float
    measurements: tuple[Mapping[str, Any], ...]


def analysis_steps(metrics: Mapping[str, Any], started: float) -> list[StepView]:
    """Each analyse step with the measurements taken while it ran: steps run one after the
    other, so a step starts after the durations before it, and a measurement belongs to the
    last analyse step that had started by then."""
    analysis = [m for m in _objects(metrics.get("analysis")) if number(m.get("at")) is not None]
    clock, windows = started, []
    for record in _objects(metrics.get("steps")):
        seconds = max(number(record.get("seconds")) or 0.0, 0.0)
        step = _mapping(record.get("step"))
        if step.get("kind") == "analyse":
            windows.append((number(step.get("weight")), clock, clock + seconds))
        clock += seconds
    owner: dict[int, list[Mapping[str, Any]]] = {}
    for measurement in analysis:
        at = number(measurement.get("at")) or 0.0
        # A little slack: the controller's clock and the step timer differ by milliseconds.
        begun = [i for i, (_w, start, _e) in enumerate(windows) if start - 0.05 <= at]
        if begun:
            owner.setdefault(begun[-1], []).append(measurement)
    return [
        StepView(index + 1, weight, start - started, end - started, tuple(owner.get(index, ())))
        for index, (weight, start, end) in enumerate(windows)
    ]


def _sample(measurement: Mapping[str, Any], pool: str, metric: str) -> float | None:
    return number(_mapping(measurement.get(pool)).get(metric))


def _charts(entry: DeployEntry, start: float, steps: Sequence[StepView]) -> str:
    analysis = [
        m for m in _objects(_metrics(entry).get("analysis")) if number(m.get("at")) is not None
    ]
    markers = [
        Marker(value - start, name.replace("_", " "))
        for name, raw in _timeline(entry).items()
        if name in TIMELINE_MARKERS and (value := number(raw)) is not None
    ]
    for step in steps:
        verdicts = ", ".join(str(m.get("verdict")) for m in step.measurements) or "no sample"
        share = "?" if step.weight is None else f"{step.weight:g}%"
        markers.append(Marker(step.start, f"step {step.index}: {share} → {verdicts}"))
    charts = []
    for metric, unit, title in SAMPLE_METRICS:
        series = [
            Series(
                label,
                tuple(
                    (at - start, value)
                    for m in analysis
                    if (at := number(m.get("at"))) is not None
                    and (value := _sample(m, pool, metric)) is not None
                ),
            )
            for pool, label in (("new", "canary (new)"), ("stable", "stable"))
        ]
        charts.append(
            lines(
                [s for s in series if s.points],
                title=f"{title}: canary (new) against stable",
                unit=unit,
                y_label=f"{title} ({unit.strip()})",
                x_label="seconds since the deploy started",
                markers=markers,
                x_unit=" s",
            )
        )
    return "".join(charts)


def _steps_table(steps: Sequence[StepView]) -> str:
    rows = []
    for step in steps:
        for m in step.measurements or ({},):
            verdict = str(m.get("verdict", "no sample"))
            rows.append(
                [
                    (str(step.index), ""),
                    ("—" if step.weight is None else f"{step.weight:g}%", ""),
                    *(
                        (text(_sample(m, pool, metric)), "")
                        for metric, _unit, _title in SAMPLE_METRICS
                        for pool in ("new", "stable")
                    ),
                    (escape(verdict), escape(verdict)),
                    (text(m.get("detail", "")), ""),
                ]
            )
    if not rows:
        return ""
    headers = (
        "step",
        "canary weight",
        "p95 canary (ms)",
        "p95 stable (ms)",
        "errors canary (%)",
        "errors stable (%)",
        "verdict",
        "detail",
    )
    return "<h4>Analysis at each step</h4>" + table(headers, rows)


def _moments(entry: DeployEntry, start: float) -> str:
    known = [
        (v - start, name)
        for name, raw in _timeline(entry).items()
        if (v := number(raw)) is not None
    ]
    missing = [name for name, raw in _timeline(entry).items() if number(raw) is None]
    rows = [
        [(escape(name.replace("_", " ")), ""), (f"{at:.3f} s", "")] for at, name in sorted(known)
    ]
    rows += [[(escape(str(name).replace("_", " ")), ""), ("—", "")] for name in missing]
    return table(("moment", "after start"), rows)


def _causes(causes: Mapping[str, Any]) -> str:
    """``(2 timeouts, 1 router 502)``: the causes that lost any request."""
    named = [
        f'<span data-cause="{escape(str(cause))}">{text(count)} '
        f"{escape(str(cause).replace('_', ' '))}</span>"
        for cause, count in causes.items()
        if number(count)
    ]
    return f" ({', '.join(named)})" if named else ""


def _drill(drill: Mapping[str, Any]) -> str:
    clients = _mapping(drill.get("clients"))
    verdict = "passed" if drill.get("passed") is True else "FAILED"
    listed = drill.get("problems")
    problems = (
        "".join(f"<li>{text(p)}</li>" for p in listed if p) if isinstance(listed, list) else ""
    )
    return (
        f'<p class="drill">Drill {verdict} (fault {text(drill.get("fault"))}): time to detect '
        f"{text(number(drill.get('time_to_detect_seconds')))} s, time to roll back "
        f"{text(number(drill.get('time_to_rollback_seconds')))} s (SLA "
        f"{text(number(drill.get('sla_seconds')))} s); {text(clients.get('lost', 0))} of "
        f"{text(clients.get('sent', 0))} client requests lost"
        f"{_causes(_mapping(clients.get('lost_by_cause')))}.</p>"
        + (f"<ul>{problems}</ul>" if problems else "")
    )


def deploy_section(entry: DeployEntry) -> str:
    """The analysis charts and the rollback timeline of one deploy."""
    start = number(_timeline(entry).get("started")) or 0.0
    steps = analysis_steps(_metrics(entry), start)
    words, tone = headline(entry)
    return (
        f'<section class="deploy" data-run="{escape(entry.run_id)}">'
        f"<h3>{escape(entry.action)} of {escape(entry.version)} to {escape(entry.env)}: "
        f'<span class="{tone} headline">{escape(words)}</span></h3>'
        f'<p class="meta">run {escape(entry.run_id)} · outcome {escape(entry.outcome)} · '
        f"{escape(entry.reason)}</p>"
        + (_drill(codec.to_builtins(entry.drill)) if entry.drill is not None else "")
        + _charts(entry, start, steps)
        + _steps_table(steps)
        + "<h4>Moments</h4>"
        + _moments(entry, start)
        + "</section>"
    )
