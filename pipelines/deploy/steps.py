"""The steps a deploy is made of, as values: strategies produce them, the controller executes
them one by one and writes each to the journal, so a deploy can be resumed after a crash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Start:
    """Start one instance of the new release and wait until it is healthy."""

    instance: str


@dataclass(frozen=True)
class Stop:
    """Stop one instance (traffic has already left it)."""

    instance: str


@dataclass(frozen=True)
class Route:
    """Send traffic to these instances with these relative weights (others get none)."""

    weights: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Smoke:
    """Every smoke path must answer 2xx on every instance of the new release."""

    instances: tuple[str, ...]


@dataclass(frozen=True)
class Analyse:
    """Measure the new instances against the stable ones; ``weight`` is the new share."""

    new: tuple[str, ...]
    stable: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class Hold:
    """Keep the old pool for ``seconds`` so that a rollback is a switch back; the new pool's
    health is checked meanwhile."""

    seconds: float
    new: tuple[str, ...]


Step = Start | Stop | Route | Smoke | Analyse | Hold
KINDS: dict[str, type[Step]] = {
    "start": Start,
    "stop": Stop,
    "route": Route,
    "smoke": Smoke,
    "analyse": Analyse,
    "hold": Hold,
}


def step_to_dict(step: Step) -> dict[str, Any]:
    """A step as JSON for the journal."""
    kind = next(name for name, cls in KINDS.items() if isinstance(step, cls))
    match step:
        case Start(instance) | Stop(instance):
            return {"kind": kind, "instance": instance}
        case Route(weights):
            return {"kind": kind, "weights": [[name, weight] for name, weight in weights]}
        case Smoke(instances):
            return {"kind": kind, "instances": list(instances)}
        case Analyse(new, stable, weight):
            return {"kind": kind, "new": list(new), "stable": list(stable), "weight": weight}
        case Hold(seconds, new):
            return {"kind": kind, "seconds": seconds, "new": list(new)}


def step_from_dict(data: dict[str, Any]) -> Step:
    """Decode a journal entry's step (the inverse of ``step_to_dict``)."""
    match data["kind"]:
        case "start":
            return Start(data["instance"])
        case "stop":
            return Stop(data["instance"])
        case "route":
            return Route(tuple((str(name), int(weight)) for name, weight in data["weights"]))
        case "smoke":
            return Smoke(tuple(data["instances"]))
        case "analyse":
            return Analyse(tuple(data["new"]), tuple(data["stable"]), float(data["weight"]))
        case "hold":
            return Hold(float(data["seconds"]), tuple(data["new"]))
    raise ValueError(f"unknown step kind {data['kind']!r}")


def describe(step: Step) -> str:
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
