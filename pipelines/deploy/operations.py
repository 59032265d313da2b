"""The deploy operations as library functions: deploy (or resume), rollback, promote, watch and
drill. Each takes typed inputs, passes the guards, holds the environment's lock while it acts,
records its outcome (audit, evidence, metrics) and returns a typed value; the CLI, the Dagger
module and a Python caller only render it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec

from pipelines import codec
from pipelines.config.deploy import StrategyKind
from pipelines.deploy import abort as abort_request
from pipelines.deploy.controller import Clock, Controller, DeployReport
from pipelines.deploy.drill import DrillReport, run_drill
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.events import EnvironmentStopped
from pipelines.deploy.guards import DeployRefused, require_approval, require_open_gate
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.outcome import record
from pipelines.deploy.records import DRILL_REPORT, ApprovalRecord, GateRecord
from pipelines.deploy.releases import new_release, prune_releases, surplus_releases
from pipelines.deploy.watch import WatchOutcome
from pipelines.deploy.watch import watch as run_watch
from pipelines.errors import UsageError
from pipelines.runlock import LockHeld
from pipelines.source_tree import tree_state

Log = Callable[[str], None]


@dataclass(frozen=True)
class DeployRequest:
    """What ``pipelines deploy`` asks for."""

    version: str | None = None  # default: the project's version, else the commit
    strategy: StrategyKind | None = None  # default: the environment's
    target: str | None = None  # only this target of the environment
    force_reason: str | None = None  # deploy without an open gate decision (audited)
    resume: bool = False  # continue an interrupted deploy instead


@dataclass(frozen=True)
class Outcome:
    """What an operation did and where its evidence is."""

    action: str
    report: DeployReport
    evidence: Path
    metrics: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what a person should know (a repaired journal, ...)

    @property
    def ok(self) -> bool:
        """A deploy succeeded; a rollback someone asked for rolled back."""
        asked = self.action in ("rollback", "abort")
        wanted = DeployStatus.ROLLED_BACK if asked else DeployStatus.SUCCEEDED
        # A restore brings back what is recorded: it succeeded when every step did.
        return self.report.status is wanted


@dataclass(frozen=True)
class WatchResult:
    """How a watch ended, and the evidence of the rollback it made (if any)."""

    watch: WatchOutcome
    evidence: Path | None = None


@dataclass(frozen=True)
class DrillResult:
    """A drill's verdict and the evidence it left."""

    drill: DrillReport
    evidence: Path | None = None


@dataclass
class _Notes:
    lines: list[str] = field(default_factory=list)

    def journal(self, denv: DeployEnv) -> None:
        repaired = denv.journal.repair()
        if repaired:
            self.lines.append(repaired)


def only_target(denv: DeployEnv, name: str) -> DeployEnv:
    """The environment with one of its targets only (a usage error naming the others)."""
    targets = tuple(t for t in denv.environment.deploy.targets if t.name == name)
    if not targets:
        names = ", ".join(t.name for t in denv.environment.deploy.targets)
        raise UsageError(
            f"environment {denv.environment.name!r} has no target {name!r}",
            hint=f"use one of: {names}",
        )
    deploy_settings = msgspec.structs.replace(denv.environment.deploy, targets=targets)
    return replace(denv, environment=replace(denv.environment, deploy=deploy_settings))


def require_intact_audit(denv: DeployEnv) -> None:
    """Before acting: the audit log every decision goes to must verify (a deploy that could
    not be recorded must not happen)."""
    verification = denv.audit_log().verify()
    if not verification.intact:
        raise DeployRefused(
            f"{verification.path}: the deploy audit log does not verify "
            f"({verification.problems[0]}); nothing was deployed",
            hint="run `pipelines audit verify --log PATH` and restore the log; an emergency "
            "`pipelines rollback` still works and records the damage",
        )


def deploy(
    denv: DeployEnv,
    request: DeployRequest,
    *,
    confirm: Callable[[str], bool] | None,
    log: Log,
    pid: int,
) -> Outcome:
    """Deploy a new release (or resume an interrupted deploy) of ``denv``."""
    if request.target:
        denv = only_target(denv, request.target)
    if request.force_reason is not None and not request.force_reason.strip():
        raise UsageError("--force needs --reason WHY (it is written to the audit log)")
    strategy = request.strategy or denv.environment.deploy.strategy
    notes = _Notes()
    require_intact_audit(denv)
    with denv.journal.lock(f"deploy of {denv.environment.name} by pid {pid}"):
        notes.journal(denv)
        if request.resume:
            report = denv.controller(log=log).resume()
            abort_request.clear(denv.directory)
            return _recorded(denv, report, "resume", notes)
        current = tree_state(denv.project, denv.environ)
        gate: GateRecord
        if request.force_reason is not None:
            gate = GateRecord(
                forced=True,
                reason=request.force_reason,
                commit=current.commit,
                tree=current.tree,
                dirty=current.dirty,
            )
            denv.audit(
                "force",
                reason=request.force_reason,
                commit=current.commit,
                tree=current.tree,
                dirty=current.dirty,
            )
        else:
            gate = require_open_gate(denv, current)
        if current.dirty:
            notes.lines.append(
                f"deploying uncommitted changes: tree {current.tree[:12]} differs from commit "
                f"{current.commit[:12]} (recorded in the evidence and the audit log)"
            )
        approval = require_approval(denv, confirm)
        if approval.required:
            denv.audit("approve", by=approval.by, via=approval.via, run=approval.run)
        controller = denv.controller(log=log)
        if isinstance(controller, Controller):
            _restore_stable(denv, controller, notes, log)
        release = new_release(denv, request.version, current.commit, source=current)
        log(f"deploying {release.version} ({release.id}) to {denv.environment.name}: {strategy}")
        report = controller.deploy(release, strategy)
        abort_request.clear(denv.directory)  # acted on (or too late: the deploy had finished)
        removed = prune_releases(denv, denv.environment.deploy.keep_releases)
        if removed:
            notes.lines.append(f"removed old release snapshots: {', '.join(removed)}")
    return _recorded(denv, report, "deploy", notes, approval=approval, gate=gate)


def _restore_stable(denv: DeployEnv, controller: Controller, notes: _Notes, log: Log) -> None:
    """A new release is judged against the stable one, so the stable one must serve: where
    it does not (a reboot, `pipelines stop`), it is restored first (audited, with evidence of
    its own), and a restore that fails refuses the deploy."""
    stable = denv.journal.state().stable
    down = controller.stable_down()
    if stable is None or not down:
        return
    name = denv.environment.name
    reason = f"before a deploy: the stable release does not serve ({'; '.join(down)})"
    log(f"{name}: {reason}: restoring {stable.id} ({stable.version}) first")
    denv.audit("restore", reason=reason)
    report = controller.restore(reason)
    recorded = record(
        denv, report, action="restore", approval=None, gate=None, export_metrics=False
    )
    if report.status is not DeployStatus.SUCCEEDED:
        raise DeployRefused(
            f"the stable release {stable.id} ({stable.version}) of {name} does not serve "
            f"({down[0]}) and restoring it failed: {report.reason}; nothing was deployed "
            "(a new release is analysed against the stable one)",
            hint=f"see {recorded.evidence}, then `pipelines restore --env {name}` brings it "
            "back; deploy again once it serves",
        )
    notes.lines.append(
        f"restored the stable release {stable.id} first ({'; '.join(down)}); "
        f"its evidence: {recorded.evidence}"
    )


def rollback(denv: DeployEnv, reason: str, *, log: Log, pid: int) -> Outcome:
    """Back to the last release that passed. An emergency: a damaged audit log never blocks
    it; the outcome then points at the damage instead of an audit entry."""
    notes = _Notes()
    damage = _audit_damage(denv)
    with denv.journal.lock(f"rollback of {denv.environment.name} by pid {pid}"):
        notes.journal(denv)
        _audit_emergency(denv, notes, damage, "rollback", reason)
        report = denv.controller(log=log).rollback(reason)
    return _recorded(denv, report, "rollback", notes, audit_damage=damage)


def promote(denv: DeployEnv, reason: str, *, log: Log, pid: int, full: bool = False) -> Outcome:
    """Continue a paused deploy past the step that paused it (``full``: all the way, its
    remaining analyses and pauses skipped)."""
    notes = _Notes()
    require_intact_audit(denv)
    with denv.journal.lock(f"promote of {denv.environment.name} by pid {pid}"):
        notes.journal(denv)
        denv.audit("promote", reason=f"{reason} (full promotion)" if full else reason)
        report = denv.controller(log=log).promote(full=full)
        abort_request.clear(denv.directory)
    return _recorded(denv, report, "promote", notes)


def restore(denv: DeployEnv, reason: str, *, log: Log, pid: int) -> Outcome:
    """The recorded stable release and its routing back, as recorded (after a reboot, a
    crash or `pipelines stop`). Like a rollback, never blocked by a damaged audit log."""
    notes = _Notes()
    damage = _audit_damage(denv)
    with denv.journal.lock(f"restore of {denv.environment.name} by pid {pid}"):
        notes.journal(denv)
        _audit_emergency(denv, notes, damage, "restore", reason)
        report = denv.controller(log=log).restore(reason)
    # No deploy or rollback gauges: bringing back what was recorded is neither.
    return _recorded(denv, report, "restore", notes, audit_damage=damage, export_metrics=False)


@dataclass(frozen=True)
class Aborted:
    """What `pipelines abort` did: the running controller rolled back (``outcome`` None,
    ``report`` the journal's last deploy), or it rolled back an unfinished deploy itself."""

    deploy: str
    status: DeployStatus
    reason: str
    by_controller: bool
    outcome: Outcome | None = None

    @property
    def ok(self) -> bool:
        """The abort took effect: the deploy ended rolled back."""
        return self.status is DeployStatus.ROLLED_BACK


def abort(
    denv: DeployEnv,
    reason: str,
    *,
    log: Log,
    pid: int,
    wait: float,
    clock: Clock,
) -> Aborted:
    """Stop the environment's deploy: a running controller is asked to (it rolls back and
    releases the lock, waited for up to ``wait`` seconds); an unfinished deploy with no
    controller (paused, or interrupted by a crash) is rolled back here. Audited like a
    rollback, and like it never blocked by a damaged audit log."""
    name = denv.environment.name
    last = denv.journal.state().last
    if last is None or last.status not in (DeployStatus.RUNNING, DeployStatus.PAUSED):
        what = (
            "no deploy was recorded"
            if last is None
            else (f"the last deploy {last.id} finished: {last.status.value}")
        )
        raise UsageError(f"nothing to abort in {name}; {what}", hint="see `pipelines status`")
    abort_request.request_abort(denv.directory, reason, f"pid {pid}")
    deadline = clock.now() + wait
    # The controller sees the request within one analysis interval: look as often.
    every = min(0.5, denv.environment.deploy.analysis.interval)
    while True:
        try:
            return _abort_locked(denv, reason, log=log, pid=pid)
        except LockHeld:  # the running controller still holds the lock: it is rolling back
            if clock.now() >= deadline:
                abort_request.clear(denv.directory)
                raise UsageError(
                    f"the deploy of {name} did not stop within {wait:g} s of the abort request",
                    hint="see `pipelines status`; `pipelines abort` again waits once more",
                ) from None
        except UsageError:  # nothing to abort after all (it finished, it was refused, ...)
            abort_request.clear(denv.directory)
            raise
        clock.sleep(every)


def _abort_locked(denv: DeployEnv, reason: str, *, log: Log, pid: int) -> Aborted:
    notes = _Notes()
    damage = _audit_damage(denv)
    why = f"aborted: {reason}"
    with denv.journal.lock(f"abort of {denv.environment.name} by pid {pid}"):
        notes.journal(denv)
        handled = abort_request.pending(denv.directory) is None
        abort_request.clear(denv.directory)
        _audit_emergency(denv, notes, damage, "abort", reason)
        last = denv.journal.state().last
        unfinished = last is not None and last.status in (
            DeployStatus.RUNNING,
            DeployStatus.PAUSED,
        )
        if last is not None and (handled or not unfinished):
            return Aborted(last.id, last.status, last.reason, by_controller=True)
        report = denv.controller(log=log).rollback(why)
    outcome = _recorded(denv, report, "abort", notes, audit_damage=damage)
    return Aborted(report.deploy, report.status, report.reason, False, outcome)


@dataclass(frozen=True)
class Stopped:
    """What `pipelines stop` stopped."""

    targets: tuple[str, ...]
    notes: tuple[str, ...] = ()


def stop(denv: DeployEnv, reason: str, *, pid: int) -> Stopped:
    """Stop the router and every instance of every target; the stable release stays
    recorded, so `pipelines restore` brings it back."""
    notes = _Notes()
    damage = _audit_damage(denv)
    with denv.journal.lock(f"stop of {denv.environment.name} by pid {pid}"):
        notes.journal(denv)
        _audit_emergency(denv, notes, damage, "stop", reason)
        targets = denv.targets()
        for target in targets:
            target.shutdown()
        denv.journal.append(EnvironmentStopped(reason=reason))
    return Stopped(tuple(t.name for t in targets), tuple(notes.lines))


@dataclass(frozen=True)
class ReleasesPruned:
    """What `pipelines artifacts prune` did to one environment's release snapshots."""

    env: str
    releases: tuple[Path, ...]  # gone, or that would go on a dry run
    busy: str = ""  # why none were looked at: a deploy of the environment is running


def prune_snapshots(denv: DeployEnv, *, dry_run: bool, pid: int) -> ReleasesPruned:
    """Apply ``deploy.keep_releases`` outside a deploy, under the environment's lock (a
    running deploy may need what it would remove, so then nothing is touched)."""
    name = denv.environment.name
    if not (denv.directory / "releases").is_dir():
        return ReleasesPruned(name, ())
    keep = denv.environment.deploy.keep_releases
    try:
        with denv.journal.lock(f"artifacts prune of {name} by pid {pid}"):
            if dry_run:
                return ReleasesPruned(name, tuple(surplus_releases(denv, keep)))
            gone = prune_releases(denv, keep)
    except LockHeld as exc:
        return ReleasesPruned(name, (), busy=exc.message)
    return ReleasesPruned(name, tuple(denv.directory / "releases" / g for g in gone))


def _audit_damage(denv: DeployEnv) -> str:
    verification = denv.audit_log().verify()
    return "" if verification.intact else f"{verification.path}: {verification.problems[0]}"


def _audit_emergency(denv: DeployEnv, notes: _Notes, damage: str, action: str, reason: str) -> None:
    """Audit an emergency action (rollback, restore, abort, stop), which a damaged audit log
    never blocks: then the damage is noted instead of an entry written on top of it."""
    if damage:
        notes.lines.append(f"the deploy audit log does not verify, not written: {damage}")
    else:
        denv.audit(action, reason=reason)


def watch(denv: DeployEnv, *, window: float, every: float, clock: Clock, log: Log) -> WatchResult:
    """Check the stable release until the window ends; a failure rolls back (recorded)."""
    outcome = run_watch(denv, window=window, every=every, clock=clock, log=log)
    if outcome.rollback is None:
        return WatchResult(outcome)
    recorded = record(denv, outcome.rollback, action="watch-rollback", approval=None, gate=None)
    return WatchResult(outcome, recorded.evidence)


def drill(
    denv: DeployEnv,
    *,
    strategy: StrategyKind | None,
    fault: str,
    sla_seconds: float,
    rate: float,
    log: Log,
) -> DrillResult:
    """A timed rehearsal of an automatic rollback, beside the environment; its report is
    kept with the evidence (no metrics: a drill's rollback must not page anyone)."""
    if rate < 0:
        raise UsageError(
            f"--rate must be 0 or more, got {rate:g}",
            hint="0 sends no client load (a cluster this machine cannot reach)",
        )
    chosen = strategy or denv.environment.deploy.strategy
    report = run_drill(
        denv, strategy=chosen, fault=fault, sla_seconds=sla_seconds, rate=rate, log=log
    )
    if report.deploy is None:
        return DrillResult(report)
    recorded = record(
        denv,
        report.deploy,
        action="drill",
        approval=ApprovalRecord(required=False),
        gate=None,
        extra={"drill_passed": report.passed},
        export_metrics=False,
    )
    codec.write(recorded.evidence / DRILL_REPORT, report.file())
    return DrillResult(report, recorded.evidence)


def _recorded(
    denv: DeployEnv,
    report: DeployReport,
    action: str,
    notes: _Notes,
    *,
    approval: ApprovalRecord | None = None,
    gate: GateRecord | None = None,
    audit_damage: str = "",
    export_metrics: bool = True,
) -> Outcome:
    recorded = record(
        denv,
        report,
        action=action,
        approval=approval,
        gate=gate,
        audit_damage=audit_damage,
        export_metrics=export_metrics,
    )
    return Outcome(action, report, recorded.evidence, recorded.metrics, tuple(notes.lines))
