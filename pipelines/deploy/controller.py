"""The deploy controller: executes a strategy's steps on targets, journals each one before
acting, takes the strategy's decision after it, and rolls back when told to.

It is handed its clock, targets and metric source, so unit tests drive it with fakes in
milliseconds and the CLI, the drills and the Dagger module drive it with real ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipelines.config.deploy import DeploySettings, ServiceSettings, StrategyKind
from pipelines.deploy.analysis import AnalysisRun, Measurement, error_measurement, judge
from pipelines.deploy.events import (
    AnalysisTaken,
    Decision,
    DeployFinished,
    DeployPaused,
    DeployResumed,
    DeployStarted,
    DeployStatus,
    RestoreStarted,
    RollbackStarted,
    StableChanged,
    StepDone,
    StepStarted,
    TargetPlanned,
    TrafficOnStable,
)
from pipelines.deploy.journal import DeployRecord, EnvState, Journal
from pipelines.deploy.records import StepRecord, Timeline
from pipelines.deploy.sources import MeasureError, MetricSource
from pipelines.deploy.steps import (
    Analyse,
    Hold,
    Pause,
    Preview,
    Route,
    Smoke,
    Start,
    Step,
    Stop,
    describe,
)
from pipelines.deploy.strategies import (
    Next,
    StepOutcome,
    Verdict,
    after,
    deploy_steps,
    instance_names,
    rollback_steps,
    skipped_by_full_promotion,
)
from pipelines.deploy.target import Release, Target, TargetError
from pipelines.errors import UsageError


class Clock(Protocol):
    """Wall time in seconds and a way to wait."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class RealClock:
    """The system clock."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Wait."""
        time.sleep(seconds)


@dataclass
class DeployReport:
    """What a deploy (or rollback) did."""

    deploy: str
    release: Release
    previous: Release | None
    strategy: str
    status: DeployStatus = DeployStatus.RUNNING
    reason: str = ""
    timeline: Timeline = field(default_factory=Timeline)
    steps: list[StepRecord] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    switches: list[float] = field(default_factory=list)  # seconds each traffic change took

    @property
    def rolled_back(self) -> bool:
        """True when traffic went back to the previous release."""
        return self.timeline.traffic_on_stable is not None


@dataclass
class Controller:
    """Deploys one environment."""

    env: str
    settings: DeploySettings
    service: ServiceSettings
    targets: Sequence[Target]
    source: MetricSource
    journal: Journal
    clock: Clock = field(default_factory=RealClock)
    auto_rollback: bool = True
    log: Callable[[str], None] = lambda line: None
    # The environment's critical health checks: "" when they pass, else what failed.
    health: Callable[[], str] = lambda: ""
    # An abort asked for (`pipelines abort`, SIGTERM): "" while none is, else why.
    aborted: Callable[[], str] = lambda: ""

    # --- commands -------------------------------------------------------------------------

    def deploy(self, release: Release, strategy: StrategyKind) -> DeployReport:
        """Deploy ``release`` to every target in turn; roll back all on a failure."""
        state = self.journal.state()
        self._refuse_if_unfinished(state)
        previous = state.stable
        deploy_id = f"{release.id}-{self.env}"
        self.journal.append(
            DeployStarted(
                deploy=deploy_id,
                release=release,
                previous=previous.id if previous else None,
                strategy=strategy.value,
                targets=[target.name for target in self.targets],
            )
        )
        report = DeployReport(deploy_id, release, previous, strategy.value)
        report.timeline.started = self.clock.now()
        return self._run(report, StrategyKind(strategy), self.journal.state().last)

    def resume(self) -> DeployReport:
        """Continue a deploy whose controller died, from the step it was in."""
        record = self._last(DeployStatus.RUNNING, "interrupted deploy to resume")
        self.journal.append(DeployResumed(deploy=record.id))
        report = self._report(record)
        return self._run(report, StrategyKind(record.strategy), record)

    def promote(self, *, full: bool = False) -> DeployReport:
        """Continue a paused deploy past the step that paused it (``full``: all the way,
        skipping the analyses and pauses still ahead)."""
        record = self._last(DeployStatus.PAUSED, "paused deploy to promote")
        for name, progress in record.targets.items():
            if progress.started >= progress.done and progress.done < len(progress.steps):
                self.journal.append(StepDone(target=name, index=progress.done, promoted=True))
        self.journal.append(DeployResumed(deploy=record.id, promoted=True, full=full))
        return self._run(
            self._report(record), StrategyKind(record.strategy), self.journal.state().last
        )

    def rollback(self, reason: str) -> DeployReport:
        """Back to the last release that passed: of an unfinished deploy, its previous
        release; after a finished one, the release before it."""
        state = self.journal.state()
        record = state.last
        if record is not None and record.status in (DeployStatus.RUNNING, DeployStatus.PAUSED):
            report = self._report(record)
            report.timeline.decision = self.clock.now()
            self._rollback_all(report, record.previous, list(record.targets), keep_new=False)
            return self._finish(report, DeployStatus.ROLLED_BACK, reason)
        if len(state.passed) < 2 or state.stable is None:
            raise UsageError(
                f"environment {self.env!r} has no earlier release to roll back to",
                hint="see `pipelines status`",
            )
        back = state.releases[state.passed[-2]]
        report = DeployReport(f"rollback-{back.id}-{self.env}", state.stable, back, "rollback")
        report.timeline.started = report.timeline.decision = self.clock.now()
        self.journal.append(RollbackStarted(release=back.id, reason=reason))
        self._rollback_all(report, back, [t.name for t in self.targets], keep_new=False)
        self.journal.append(StableChanged(release=back.id))
        report.status, report.reason = DeployStatus.ROLLED_BACK, reason
        report.timeline.finished = self.clock.now()
        return report

    def restore(self, reason: str) -> DeployReport:
        """Bring the recorded stable release back on every target, exactly as recorded (its
        instances started where they are gone, all traffic routed to them)."""
        state = self.journal.state()
        stable = state.stable
        if stable is None:
            raise UsageError(
                f"environment {self.env!r} has no stable release recorded to restore",
                hint="deploy one first",
            )
        self._refuse_if_unfinished(state)
        report = DeployReport(f"restore-{stable.id}-{self.env}", stable, stable, "restore")
        report.timeline.started = report.timeline.decision = self.clock.now()
        self.journal.append(RestoreStarted(release=stable.id, reason=reason))
        self._rollback_all(report, stable, [t.name for t in self.targets], keep_new=False)
        failed = [step for step in report.steps if not step.ok]
        report.status = DeployStatus.FAILED if failed else DeployStatus.SUCCEEDED
        report.reason = failed[0].detail if failed else reason
        report.timeline.finished = self.clock.now()
        return report

    def stable_down(self) -> list[str]:
        """Where the recorded stable release does not serve (its instances gone, its router
        stopped), one line per target; empty when it serves everywhere, or when no release
        was ever recorded (a first deploy)."""
        stable = self.journal.state().stable
        if stable is None:
            return []
        down: list[str] = []
        for target in self.targets:
            running = target.running()
            if not any(r.release == stable.id for r in running.values()):
                down.append(f"{target.name}: no instance of {stable.id} runs")
            elif not target.routed():
                down.append(f"{target.name}: its router does not serve")
        return down

    def _last(self, status: DeployStatus, wanted: str) -> DeployRecord:
        """The last deploy, which must be in ``status``."""
        record = self.journal.state().last
        if record is None or record.status is not status:
            raise UsageError(
                f"environment {self.env!r} has no {wanted}", hint="see `pipelines status`"
            )
        return record

    # --- driving steps --------------------------------------------------------------------

    def _refuse_if_unfinished(self, state: EnvState) -> None:
        record = state.last
        if record is not None and record.status in (DeployStatus.RUNNING, DeployStatus.PAUSED):
            what = "is paused" if record.status is DeployStatus.PAUSED else "was interrupted"
            raise UsageError(
                f"deploy {record.id} of environment {self.env!r} {what}",
                hint="finish it first: `pipelines promote`, `pipelines rollback` or "
                "`pipelines deploy --resume`",
            )

    def _report(self, record: DeployRecord) -> DeployReport:
        report = DeployReport(record.id, record.release, record.previous, record.strategy)
        report.timeline.started = self.clock.now()
        return report

    def _run(
        self, report: DeployReport, strategy: StrategyKind, record: DeployRecord | None
    ) -> DeployReport:
        planned = record.targets if record is not None else {}
        touched: list[str] = []
        # Before any exposure: the first measurement must not pay for loading the source.
        self.source.prepare()
        for target in self.targets:
            touched.append(target.name)
            progress = planned.get(target.name)
            if progress is None:
                stable = self._stable_instances(target, report.previous)
                if report.previous is not None and not stable:
                    # Never a "first release" by accident: it would skip every analysis.
                    report.reason = (
                        f"{target.name}: the stable release {report.previous.id} does not run; "
                        "`pipelines restore` brings it back"
                    )
                    report.timeline.decision = self.clock.now()
                    self._rollback_all(report, report.previous, touched[:-1], keep_new=False)
                    return self._finish(report, DeployStatus.FAILED, report.reason)
                preview = any(
                    t.name == target.name and t.preview_listen for t in self.settings.targets
                )
                steps = deploy_steps(
                    self.settings, strategy, stable, report.release.id, preview=preview
                )
                self.journal.append(
                    TargetPlanned(target=target.name, steps=list(steps), stable=list(stable))
                )
                todo, start = list(steps), 0
            else:
                todo, start = progress.steps, progress.done
            full = record is not None and record.full
            decision = self._drive(report, target, todo, start, full=full)
            if decision is Next.PAUSE:
                self.journal.append(DeployPaused(deploy=report.deploy, reason=report.reason))
                report.status = DeployStatus.PAUSED
                return report
            if decision in (Next.ROLLBACK, Next.HOLD_BACK):
                keep = decision is Next.HOLD_BACK
                self._rollback_all(report, report.previous, touched, keep_new=keep)
                if keep:
                    self.journal.append(DeployPaused(deploy=report.deploy, reason=report.reason))
                    report.status = DeployStatus.PAUSED
                    report.timeline.finished = self.clock.now()
                    return report
                return self._finish(report, DeployStatus.ROLLED_BACK, report.reason)
        return self._finish(report, DeployStatus.SUCCEEDED, "")

    def _stable_instances(self, target: Target, previous: Release | None) -> tuple[str, ...]:
        if previous is None:
            return ()
        running = target.running()
        return tuple(sorted(n for n, r in running.items() if r.release == previous.id))

    def _drive(
        self, report: DeployReport, target: Target, steps: list[Step], start: int, *, full: bool
    ) -> Next:
        for index in range(start, len(steps)):
            step = steps[index]
            why = self.aborted()
            if why:
                return self._abort(report, target, index, why)
            if full and skipped_by_full_promotion(steps, index):
                self.log(f"{target.name}: skipped by the full promotion: {describe(step)}")
                self.journal.append(StepDone(target=target.name, index=index, promoted=True))
                continue
            self.journal.append(StepStarted(target=target.name, index=index))
            self.log(f"{target.name}: {describe(step)}")
            began = self.clock.now()
            outcome = self._execute(report, target, step)
            ended = self.clock.now()  # when the step's outcome was known: the decision's time
            report.steps.append(
                StepRecord(target.name, step, ended - began, outcome.ok, outcome.detail)
            )
            why = "" if outcome.ok else self.aborted()
            if why:
                return self._abort(report, target, index, why)
            decision = after(outcome, self.auto_rollback)
            if decision is not Next.CONTINUE:
                report.reason = f"{target.name}: {describe(step)}: {outcome.detail}"
                if not outcome.paused:  # a planned pause is no fault and needs no decision
                    if report.timeline.fault_seen is None:
                        report.timeline.fault_seen = ended
                    report.timeline.decision = ended
                self.journal.append(
                    Decision(
                        target=target.name, index=index, next=decision.value, reason=report.reason
                    )
                )
                self.log(f"{target.name}: {decision.value}: {outcome.detail}")
                return decision
            self.journal.append(StepDone(target=target.name, index=index))
        return Next.CONTINUE

    def _abort(self, report: DeployReport, target: Target, index: int, why: str) -> Next:
        """An abort: all traffic back on stable at once, whatever ``auto_rollback`` says."""
        report.reason = f"aborted: {why}"
        report.timeline.decision = self.clock.now()
        self.journal.append(
            Decision(
                target=target.name, index=index, next=Next.ROLLBACK.value, reason=report.reason
            )
        )
        self.log(f"{target.name}: {report.reason}")
        return Next.ROLLBACK

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` through the clock, looking for an abort at least once a second
        and once an analysis interval; True when one was asked for."""
        deadline = self.clock.now() + seconds
        every = min(1.0, self.settings.analysis.interval)
        while True:
            if self.aborted():
                return True
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                return False
            self.clock.sleep(min(remaining, every))

    def _execute(  # noqa: PLR0911 - one case per kind of step
        self, report: DeployReport, target: Target, step: Step
    ) -> StepOutcome:
        try:
            match step:
                case Start(instance):
                    target.start(instance, self._release_of(report, instance))
                    return StepOutcome(True)
                case Stop(instance):
                    target.stop(instance)
                    return StepOutcome(True)
                case Route(weights):
                    report.switches.append(target.route(dict(weights)))
                    new_share = any(n.startswith(report.release.id + "-") for n, _ in weights)
                    if new_share and report.timeline.exposed is None:
                        report.timeline.exposed = self.clock.now()
                    return StepOutcome(True)
                case Smoke(instances):
                    return self._smoke(target, instances)
                case Analyse():
                    return self._analyse(report, target, step)
                case Hold(seconds, new):
                    return self._hold(target, seconds, new)
                case Preview(instances):
                    url = target.preview(instances)
                    if url:
                        self.log(f"{target.name}: {'+'.join(instances)} preview at {url}")
                    return StepOutcome(True, detail=f"preview at {url}" if url else "")
                case Pause(None):
                    return StepOutcome(True, detail="waiting for `pipelines promote`", paused=True)
                case Pause(seconds):
                    aborted = self._wait(seconds or 0.0)
                    return StepOutcome(not aborted, detail="aborted" if aborted else "")
        except TargetError as exc:
            return StepOutcome(False, detail=str(exc))

    def _release_of(self, report: DeployReport, instance: str) -> Release:
        release_id = instance.rsplit("-", 1)[0]
        if release_id == report.release.id:
            return report.release
        if report.previous is not None and release_id == report.previous.id:
            return report.previous
        release = self.journal.state().releases.get(release_id)
        if release is None:
            raise TargetError(f"no release {release_id} is recorded for instance {instance}")
        return release

    def _smoke(self, target: Target, instances: tuple[str, ...]) -> StepOutcome:
        for name in instances:
            for path in self.settings.smoke:
                if not target.answers(name, path):
                    return StepOutcome(False, detail=f"smoke test {path} failed on {name}")
        return StepOutcome(True)

    def _analyse(self, report: DeployReport, target: Target, step: Analyse) -> StepOutcome:
        running = target.running()
        new = [running[n].url for n in step.new if n in running]
        stable = [running[n].url for n in step.stable if n in running]
        if len(new) < len(step.new):
            return StepOutcome(False, detail="a new instance stopped running")
        stable_version = report.previous.version if report.previous else ""
        run = AnalysisRun(self.settings.analysis)
        while True:
            try:
                new_sample, stable_sample = self.source.measure(
                    new,
                    stable,
                    self.settings.analysis.interval,
                    (report.release.version, stable_version),
                )
                measurement = judge(
                    new_sample, stable_sample, self.settings.analysis, self.clock.now()
                )
            except MeasureError as exc:
                measurement = error_measurement(str(exc), self.clock.now())
            if measurement.verdict is not Verdict.SUCCESSFUL and report.timeline.fault_seen is None:
                report.timeline.fault_seen = self.clock.now()  # judged now, not when sampled
            report.measurements.append(measurement)
            why = self.aborted()
            if why:
                return StepOutcome(False, detail=f"aborted: {why}")
            self.journal.append(
                AnalysisTaken(
                    target=target.name, weight=step.weight, measurement=measurement.summary()
                )
            )
            self.log(f"{target.name}: analysis {measurement.verdict.value}: {measurement.detail}")
            unhealthy = self.health()
            if unhealthy:  # a failed critical health check ends the analysis at once
                report.timeline.fault_seen = report.timeline.fault_seen or self.clock.now()
                return StepOutcome(False, Verdict.FAILED, unhealthy)
            verdict = run.add(measurement)
            if verdict is not None:
                return StepOutcome(
                    verdict is Verdict.SUCCESSFUL,
                    verdict,
                    f"analysis {verdict.value}: " + measurement.detail,
                )

    def _hold(self, target: Target, seconds: float, new: tuple[str, ...]) -> StepOutcome:
        deadline = self.clock.now() + seconds
        while True:
            for name in new:
                if not target.answers(name, self.service.health_path):
                    return StepOutcome(False, detail=f"{name} failed its health check")
            unhealthy = self.health()
            if unhealthy:
                return StepOutcome(False, detail=unhealthy)
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                return StepOutcome(True)
            if self._wait(min(remaining, self.settings.analysis.interval)):
                return StepOutcome(False, detail="aborted")

    # --- rollback -------------------------------------------------------------------------

    def _rollback_all(
        self, report: DeployReport, back: Release | None, names: list[str], *, keep_new: bool
    ) -> None:
        """Every touched target back to ``back``, the last one touched first."""
        self.journal.append(RollbackStarted(deploy=report.deploy, keep_new=keep_new))
        by_name = {target.name: target for target in self.targets}
        for name in reversed(names):
            target = by_name[name]
            running = target.running()
            stable = instance_names(back.id, self.settings.instances) if back else ()
            if back is not None:  # instances of the release that stayed up are kept as they are
                kept = tuple(sorted(n for n, r in running.items() if r.release == back.id))
                stable = kept or stable
            steps = rollback_steps(stable, frozenset(running), keep_new)
            for step in steps:
                began = self.clock.now()
                outcome = self._execute(report, target, step)
                report.steps.append(
                    StepRecord(name, step, self.clock.now() - began, outcome.ok, outcome.detail)
                )
                if isinstance(step, Route) and outcome.ok:
                    report.timeline.traffic_on_stable = self.clock.now()
                    self.journal.append(TrafficOnStable(target=name))
                if not outcome.ok:
                    self.log(f"{name}: rollback step failed: {outcome.detail}")
        report.timeline.cleanup = self.clock.now()
        if back is not None:
            self.journal.append(StableChanged(release=back.id))

    def _finish(self, report: DeployReport, status: DeployStatus, reason: str) -> DeployReport:
        report.status, report.reason = status, reason
        report.timeline.finished = self.clock.now()
        self.journal.append(DeployFinished(deploy=report.deploy, status=status, reason=reason))
        return report
