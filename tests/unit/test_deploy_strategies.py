"""The strategies are pure: what runs in, steps out; and the decision after each step."""

from __future__ import annotations

import msgspec
from msgspec.structs import replace

from pipelines.config.deploy import DeploySettings, StrategyKind
from pipelines.deploy.steps import (
    Analyse,
    Hold,
    Route,
    Smoke,
    Start,
    Step,
    Stop,
)
from pipelines.deploy.strategies import (
    Next,
    StepOutcome,
    Verdict,
    after,
    deploy_steps,
    rollback_steps,
    split,
)

SETTINGS = DeploySettings(instances=2, steps=(10.0, 50.0, 100.0), keep_old_for=30.0)
OLD = ("r1-0", "r1-1")


def _served_after_each_step(steps: tuple[object, ...], start: set[str]) -> list[set[str]]:
    running, served, seen = set(start), set(start), []
    for step in steps:
        match step:
            case Start(name):
                running.add(name)
            case Stop(name):
                assert name not in served, f"{name} stopped while it still had traffic"
                running.discard(name)
            case Route(weights):
                served = {name for name, weight in weights if weight > 0}
                assert served <= running, "traffic routed to an instance that is not running"
        seen.append(set(served))
    return seen


def test_the_first_release_starts_and_routes_without_analysis() -> None:
    steps = deploy_steps(SETTINGS, StrategyKind.CANARY, (), "r1")
    assert steps == (Start("r1-0"), Start("r1-1"), Route((("r1-0", 1), ("r1-1", 1))))


def test_rolling_replaces_one_at_a_time_and_never_serves_fewer_than_capacity() -> None:
    with_smoke = deploy_steps(replace(SETTINGS, smoke=("/",)), StrategyKind.ROLLING, OLD, "r2")
    assert with_smoke[:2] == (Start("r2-0"), Smoke(("r2-0",))), "only what has started"
    steps = deploy_steps(SETTINGS, StrategyKind.ROLLING, OLD, "r2")
    served = _served_after_each_step(steps, set(OLD))
    assert all(len(pool) >= 2 for pool in served)
    starts = [i for i, s in enumerate(steps) if isinstance(s, Start)]
    stops = [i for i, s in enumerate(steps) if isinstance(s, Stop)]
    assert starts[1] > stops[0], "the second new instance waits for the first old one to go"
    assert isinstance(steps[2], Analyse) and steps[2].new == ("r2-0",)
    assert served[-1] == {"r2-0", "r2-1"}


def test_blue_green_verifies_then_switches_at_once_and_keeps_the_old_pool() -> None:
    settings = replace(SETTINGS, smoke=("/",))
    steps = deploy_steps(settings, StrategyKind.BLUE_GREEN, OLD, "r2")
    assert steps[:4] == (
        Start("r2-0"),
        Start("r2-1"),
        Smoke(("r2-0", "r2-1")),
        Analyse(("r2-0", "r2-1"), OLD, 0.0),
    )
    assert steps[4] == Route((("r2-0", 1), ("r2-1", 1)))
    assert steps[5] == Hold(30.0, ("r2-0", "r2-1"))
    assert steps[6:] == (Stop("r1-0"), Stop("r1-1"))
    _served_after_each_step(steps, set(OLD))


def test_canary_analyses_every_step_below_100() -> None:
    steps = deploy_steps(SETTINGS, StrategyKind.CANARY, OLD, "r2")
    analyses = [s.weight for s in steps if isinstance(s, Analyse)]
    assert analyses == [10.0, 50.0]
    _served_after_each_step(steps, set(OLD))


def test_weights_give_the_new_pool_its_exact_share() -> None:
    for new, stable in ((("a",), ("b", "c")), (("a", "b"), ("c",)), (("a", "b"), ("c", "d"))):
        for percent in (10.0, 25.0, 50.0):
            weights = dict(split(new, stable, percent).weights)
            share = sum(weights[n] for n in new) / sum(weights.values())
            assert abs(share - percent / 100) < 1e-9


def test_rollback_restarts_a_stable_instance_that_is_gone_routes_then_cleans_up() -> None:
    steps = rollback_steps(OLD, frozenset({"r1-0", "r2-0", "r2-1"}), keep_new=False)
    assert steps == (
        Start("r1-1"),
        Route((("r1-0", 1), ("r1-1", 1))),
        Stop("r2-0"),
        Stop("r2-1"),
    )
    kept = rollback_steps(OLD, frozenset({"r1-0", "r1-1", "r2-0"}), keep_new=True)
    assert kept == (Route((("r1-0", 1), ("r1-1", 1))),)


def test_decisions_after_a_step() -> None:
    assert after(StepOutcome(True), auto_rollback=True) is Next.CONTINUE
    assert after(StepOutcome(False), auto_rollback=True) is Next.ROLLBACK
    failed = StepOutcome(False, Verdict.FAILED)
    assert after(failed, auto_rollback=True) is Next.ROLLBACK
    assert after(failed, auto_rollback=False) is Next.HOLD_BACK
    # An error never promotes.
    assert after(StepOutcome(False, Verdict.ERROR), auto_rollback=True) is Next.ROLLBACK
    assert after(StepOutcome(False, Verdict.INCONCLUSIVE), auto_rollback=True) is Next.PAUSE


def test_steps_round_trip_through_the_journal() -> None:
    for strategy in StrategyKind:
        for step in deploy_steps(replace(SETTINGS, smoke=("/",)), strategy, OLD, "r2"):
            assert msgspec.json.decode(msgspec.json.encode(step), type=Step) == step


def test_steps_written_by_earlier_versions_still_decode() -> None:
    written = b'[{"kind": "route", "weights": [["r1-0", 50], ["r2-0", 50]]},'
    written += b' {"kind": "analyse", "new": ["r2-0"], "stable": ["r1-0"], "weight": 50}]'
    assert msgspec.json.decode(written, type=list[Step]) == [
        Route((("r1-0", 50), ("r2-0", 50))),
        Analyse(("r2-0",), ("r1-0",), 50.0),
    ]
