"""Rolling, blue-green and canary as pure functions from what runs to the steps of a deploy,
and the pure decisions taken after each step. No clock, no I/O: the controller supplies the
outcomes, so every branch is driven by unit tests in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipelines.config.deploy import CanaryPause, DeploySettings, StrategyKind
from pipelines.deploy.steps import Analyse, Hold, Pause, Preview, Route, Smoke, Start, Step, Stop


def instance_names(release_id: str, count: int) -> tuple[str, ...]:
    """The instances of a release: ``<release>-<n>``."""
    return tuple(f"{release_id}-{index}" for index in range(count))


def split(new: tuple[str, ...], stable: tuple[str, ...], percent: float) -> Route:
    """Weights that give ``new`` ``percent`` of the traffic, spread evenly in each pool.

    nginx weights are integers, so each pool's total is scaled to 100 per instance of the
    other pool: the shares are exact whatever the pool sizes.
    """
    if not stable or percent >= 100:
        return Route(tuple((name, 1) for name in new))
    if not new or percent <= 0:
        return Route(tuple((name, 1) for name in stable))
    new_each = round(percent * 10 * len(stable))
    stable_each = round((100 - percent) * 10 * len(new))
    return Route(
        tuple((name, new_each) for name in new) + tuple((name, stable_each) for name in stable)
    )


def deploy_steps(
    settings: DeploySettings,
    strategy: StrategyKind,
    stable: tuple[str, ...],
    release_id: str,
    *,
    preview: bool = False,
) -> tuple[Step, ...]:
    """Every step that takes an environment from ``stable`` to ``release_id`` (``preview``:
    the target has a preview address for a blue-green's new pool)."""
    new = instance_names(release_id, settings.instances)
    smoke = (Smoke(new),) if settings.smoke else ()
    if not stable:  # the first release: nothing to compare with or to keep serving
        return (*(Start(name) for name in new), *smoke, Route(tuple((n, 1) for n in new)))
    match strategy:
        case StrategyKind.ROLLING:
            return _rolling(new, stable, bool(smoke))
        case StrategyKind.BLUE_GREEN:
            shown = (Preview(new),) if preview else ()
            return _blue_green(settings, new, stable, (*smoke, *shown))
        case StrategyKind.CANARY:
            return _canary(settings, new, stable, smoke)


def _rolling(new: tuple[str, ...], stable: tuple[str, ...], smoke: bool) -> tuple[Step, ...]:
    # One at a time, a new instance healthy and in service before an old one leaves, so the
    # capacity never drops. The first new instance is analysed as a canary of 1/n.
    steps: list[Step] = []
    serving_old, serving_new = list(stable), []
    for index, name in enumerate(new):
        steps.append(Start(name))
        if index == 0 and smoke:
            steps.append(Smoke((name,)))
        serving_new.append(name)
        leaving = serving_old.pop(0) if serving_old else None
        steps.append(Route(tuple((n, 1) for n in (*serving_old, *serving_new))))
        if index == 0 and serving_old:
            share = 100 * len(serving_new) / (len(serving_new) + len(serving_old))
            steps.append(Analyse((name,), tuple(serving_old), share))
        if leaving is not None:
            steps.append(Stop(leaving))
    steps.extend(Stop(name) for name in serving_old)
    return tuple(steps)


def _blue_green(
    settings: DeploySettings,
    new: tuple[str, ...],
    stable: tuple[str, ...],
    smoke: tuple[Step, ...],
) -> tuple[Step, ...]:
    before = (Analyse(new, stable, 0.0),) if settings.pre_promotion_analysis else ()
    # Argo Rollouts' autoPromotionEnabled: false, a person promotes the switch.
    gate = () if settings.auto_promote else (Pause(None),)
    # With all traffic on the new pool and the old one still up, a failure is a switch back.
    after_switch = (Analyse(new, stable, 100.0),) if settings.post_promotion_analysis else ()
    return (
        *(Start(name) for name in new),
        *smoke,
        *before,
        *gate,
        Route(tuple((name, 1) for name in new)),
        *after_switch,
        Hold(settings.keep_old_for, new),
        *(Stop(name) for name in stable),
    )


def _canary(
    settings: DeploySettings,
    new: tuple[str, ...],
    stable: tuple[str, ...],
    smoke: tuple[Step, ...],
) -> tuple[Step, ...]:
    steps: list[Step] = [*(Start(name) for name in new), *smoke]
    for weight in settings.steps:
        if isinstance(weight, CanaryPause):
            steps.append(Pause(None if weight.pause is None else float(weight.pause)))
            continue
        steps.append(split(new, stable, weight))
        if weight < 100:
            steps.append(Analyse(new, stable, weight))
    steps.extend(Stop(name) for name in stable)
    return tuple(steps)


def skipped_by_full_promotion(steps: list[Step], index: int) -> bool:
    """``promote --full`` (Argo Rollouts' full promotion): analyses and pauses are skipped,
    and so is a traffic weight that another one replaces before anything else happens (a
    canary goes straight to 100%; a rolling update still routes before each stop)."""
    step = steps[index]
    if isinstance(step, Analyse | Pause):
        return True
    if not isinstance(step, Route):
        return False
    for later in steps[index + 1 :]:
        if isinstance(later, Analyse | Pause):
            continue
        return isinstance(later, Route)
    return False


def rollback_steps(
    stable: tuple[str, ...], running: frozenset[str], keep_new: bool
) -> tuple[Step, ...]:
    """Back to ``stable``: start any stable instance that is gone, send all traffic there at
    once, then stop everything else (or keep it for inspection)."""
    starts = tuple(Start(name) for name in stable if name not in running)
    route = Route(tuple((name, 1) for name in stable))
    stops = () if keep_new else tuple(Stop(n) for n in sorted(running - set(stable)))
    return (*starts, route, *stops)


class Verdict(StrEnum):
    """How an analysis ended (the phases of Argo Rollouts' AnalysisRun)."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


class Next(StrEnum):
    """What the controller does after a step."""

    CONTINUE = "continue"
    ROLLBACK = "rollback"  # traffic back to stable, new instances stopped
    PAUSE = "pause"  # wait for `promote` or `rollback`
    HOLD_BACK = "hold-back"  # traffic back to stable, new instances kept, then pause


@dataclass(frozen=True)
class StepOutcome:
    """What executing a step found: ``ok`` for actions, a verdict for an analysis."""

    ok: bool
    verdict: Verdict | None = None
    detail: str = ""
    paused: bool = False  # a planned pause: wait for `promote` (no fault)


def after(outcome: StepOutcome, auto_rollback: bool) -> Next:
    """The decision after a step. An error never promotes; an inconclusive analysis waits
    for a person; a failure rolls back (or, with automatic rollback off, puts traffic back
    on stable and waits)."""
    if outcome.paused or outcome.verdict is Verdict.INCONCLUSIVE:
        return Next.PAUSE
    failed = not outcome.ok or outcome.verdict in (Verdict.FAILED, Verdict.ERROR)
    if not failed:
        return Next.CONTINUE
    return Next.ROLLBACK if auto_rollback else Next.HOLD_BACK
