"""The steps a deploy is made of, as values: strategies produce them, the controller executes
them one by one and writes each to the journal, so a deploy can be resumed after a crash."""

from __future__ import annotations

import msgspec


class _Step(msgspec.Struct, frozen=True, tag_field="kind"):
    """A step as the journal holds it: ``{"kind": "start", "instance": "r2-0"}``."""


class Start(_Step, frozen=True, tag="start"):
    """Start one instance of the new release and wait until it is healthy."""

    instance: str


class Stop(_Step, frozen=True, tag="stop"):
    """Stop one instance (traffic has already left it)."""

    instance: str


class Route(_Step, frozen=True, tag="route"):
    """Send traffic to these instances with these relative weights (others get none)."""

    weights: tuple[tuple[str, int], ...]


class Smoke(_Step, frozen=True, tag="smoke"):
    """Every smoke path must answer 2xx on every instance of the new release."""

    instances: tuple[str, ...]


class Analyse(_Step, frozen=True, tag="analyse"):
    """Measure the new instances against the stable ones; ``weight`` is the new share."""

    new: tuple[str, ...]
    stable: tuple[str, ...]
    weight: float


class Hold(_Step, frozen=True, tag="hold"):
    """Keep the old pool for ``seconds`` so that a rollback is a switch back; the new pool's
    health is checked meanwhile."""

    seconds: float
    new: tuple[str, ...]


class Preview(_Step, frozen=True, tag="preview"):
    """Let the target's preview address reach these instances (a blue-green's new pool,
    before the switch), the service's traffic untouched."""

    instances: tuple[str, ...]


class Pause(_Step, frozen=True, tag="pause"):
    """Wait ``seconds`` with the traffic as it is, or (None) until `pipelines promote`."""

    seconds: float | None = None


Step = Start | Stop | Route | Smoke | Analyse | Hold | Pause | Preview


def describe(step: Step) -> str:  # noqa: PLR0911 - one line per kind of step
    """One line for logs and ``status``."""
    match step:
        case Start(instance):
            return f"start {instance}"
        case Stop(instance):
            return f"stop {instance}"
        case Route(weights):
            return "route " + ", ".join(f"{name}={weight}" for name, weight in weights)
        case Smoke(instances):
            return f"smoke test {', '.join(instances)}"
        case Analyse(new, stable, weight):
            return f"analyse {'+'.join(new)} at {weight:g}% against {'+'.join(stable)}"
        case Hold(seconds, new):
            return f"hold the old pool {seconds:g} s while {'+'.join(new)} serves"
        case Preview(instances):
            return f"preview {'+'.join(instances)}"
        case Pause(None):
            return "pause until `pipelines promote`"
        case Pause(seconds):
            return f"pause {seconds:g} s"
