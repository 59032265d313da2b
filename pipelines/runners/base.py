"""The runner Protocol and the DAG scheduling every runner shares."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import BinaryIO, Protocol

import anyio

from pipelines import containment
from pipelines.layout import LOG, Layout
from pipelines.plan import Plan, PlannedStage
from pipelines.runners import source_guard
from pipelines.runners.commands import (
    MISSING_EXECUTABLE,
    Command,
    Waiting,
    run_in_group,
    spawn,
)
from pipelines.runners.results import TRACKED, RunResult, RunStatus, StageRun

OnEvent = Callable[[str, RunStatus], None]


class Runner(Protocol):
    """Executes every stage of a plan somewhere: the host, Docker containers, ..."""

    name: str

    def __init__(self, project: Path, *, layout: Layout | None = None) -> None:
        """A runner works on one project directory, writing reports where ``layout`` says."""

    def run(
        self, plan: Plan, *, fail_fast: bool = False, on_event: OnEvent | None = None
    ) -> RunResult:
        """Run the plan's DAG and return every stage's outcome."""
        ...


class ExecuteStage(Protocol):
    """Runs one stage's commands into its log: (exit code, reason)."""

    def __call__(
        self, stage: PlannedStage, log: Path, waiting: Waiting | None = None, /
    ) -> Awaitable[tuple[int, str]]: ...


# Starts a stage's first command early, or None when it cannot wait (commands.py).
Prestart = Callable[[PlannedStage, Path], Awaitable[Waiting | None]]


BuildCommand = Callable[[PlannedStage, tuple[str, ...], int], Command]


def _open_log(log: Path) -> contextlib.AbstractContextManager[BinaryIO]:
    # The stage's directory is where a stage could have left a link to a host file.
    return containment.write_new(log.parent.parent, PurePath(log.parent.name, log.name))


def stage_executor(build: BuildCommand, project: Path) -> ExecuteStage:
    """The one execution path of every runner: each of a stage's commands in turn, into the
    stage's log, the first failure ending the stage with a reason a person can act on. With
    ``waiting``, the first command is that early-started process (commands.py)."""

    async def execute(
        stage: PlannedStage, log: Path, waiting: Waiting | None = None
    ) -> tuple[int, str]:
        with waiting.log if waiting is not None else contextlib.ExitStack() as held:
            handle = waiting.handle if waiting is not None else held.enter_context(_open_log(log))
            for index, argv in enumerate(stage.run):
                command = build(stage, argv, index)
                try:
                    if index == 0 and waiting is not None:
                        code = await waiting.run()
                    else:
                        code = await run_in_group(command, handle)
                except FileNotFoundError:
                    return MISSING_EXECUTABLE, f"{command.argv[0]}: not found on PATH"
                if code == MISSING_EXECUTABLE and command.missing:
                    return code, command.missing
                if code != 0:
                    return code, f"exit code {code}, see {shown(log, project)}"
        return 0, ""

    return execute


def stage_prestarter(build: BuildCommand) -> Prestart:
    """Early starts for a runner whose stage commands may wait (commands.py)."""

    async def prestart(stage: PlannedStage, log: Path) -> Waiting | None:
        if not stage.run:
            return None
        command = build(stage, stage.run[0], 0)
        if not command.may_wait:
            return None
        held = contextlib.ExitStack()
        try:
            handle = held.enter_context(_open_log(log))
            process = await spawn(command, handle, waits=True)
        except BaseException:
            held.close()
            raise
        return Waiting(process, command, held, handle)

    return prestart


def ignore_event(_name: str, _status: RunStatus) -> None:
    """An OnEvent that does nothing."""
    return


@dataclass
class Scheduler:
    """Runs stages in DAG order, independent ones in parallel, with --fail-fast cancellation.

    ``execute`` runs one stage's commands and returns (exit code, reason); it is what differs
    between runners.
    """

    plan: Plan
    layout: Layout
    execute: ExecuteStage
    fail_fast: bool = False
    on_event: OnEvent = ignore_event
    max_parallel: int = 8
    # Starts a stage that needs others while they run (loading its code only), or None.
    prestart: Prestart | None = None
    results: dict[str, StageRun] = field(default_factory=dict)

    interrupted: bool = False
    failed_fast: bool = False
    began: float = 0.0
    # How the stages were checked for changing the source: by git's tracked files, unless
    # git could not list them here.
    source_check: str = TRACKED
    _began: dict[str, anyio.Event] = field(default_factory=dict)  # per stage: it began or ended

    def run(self) -> tuple[StageRun, ...]:
        """Run the whole plan; blocks until every stage has finished. Ctrl-C cancels the
        running stages (their processes are killed) and returns what had finished."""
        self.began = time.monotonic()
        try:
            anyio.run(self._run_all)
        except KeyboardInterrupt:
            self.interrupted = True
        return tuple(
            self.results.get(stage.name, StageRun(stage.name, RunStatus.CANCELLED))
            for stage in self.plan.stages
        )

    async def _run_all(self) -> None:
        finished = {stage.name: anyio.Event() for stage in self.plan.stages}
        self._began = {stage.name: anyio.Event() for stage in self.plan.stages}
        limiter = anyio.CapacityLimiter(self.max_parallel)
        async with anyio.create_task_group() as group:
            for stage in self.plan.stages:
                group.start_soon(self._stage, stage, finished, limiter, group.cancel_scope)

    async def _start_early(self, stage: PlannedStage) -> Waiting | None:
        """Once every need has begun (so early starts do not crowd the first stages out of
        the CPU), start the stage's process to load its code while they run."""
        if not stage.needs or self.prestart is None:
            return None
        for need in stage.needs:
            await self._began[need].wait()
        log = containment.ensure_directory(self.layout.reports, stage.name) / LOG
        try:
            return await self.prestart(stage, log)
        except OSError:
            return None  # started the ordinary way, which says what is wrong

    async def _stage(
        self,
        stage: PlannedStage,
        finished: Mapping[str, anyio.Event],
        limiter: anyio.CapacityLimiter,
        scope: anyio.CancelScope,
    ) -> None:
        waiting: Waiting | None = None
        try:
            waiting = await self._start_early(stage)
            for need in stage.needs:
                await finished[need].wait()
            blocked = [n for n in stage.needs if self.results[n].status is not RunStatus.PASSED]
            if blocked and stage.run_if != "always":
                self._finish(
                    StageRun(stage.name, RunStatus.SKIPPED, reason=f"needs {', '.join(blocked)}")
                )
                return
            async with limiter:
                self._began[stage.name].set()
                self.on_event(stage.name, RunStatus.RUNNING)
                started = time.monotonic()
                log = containment.ensure_directory(self.layout.reports, stage.name) / LOG
                # Earlier outputs must not pass for this run's (the gate would read them).
                for output in stage.outputs:
                    containment.clear_report(*self.layout.located(output))
                before = await anyio.to_thread.run_sync(
                    source_guard.snapshot,
                    self.layout.project,
                    (self.layout.reports, self.layout.artifacts),
                )
                if before.without_git:
                    self.source_check = (
                        f"every file (git cannot list the tracked ones: {before.without_git})"
                    )
                exit_code, reason = 124, ""
                # The runner's execute kills the stage's whole process group when cancelled.
                with anyio.move_on_after(stage.timeout) as limit:
                    if waiting is None:  # an executor of a runner without early starts
                        exit_code, reason = await self.execute(stage, log)
                    else:
                        exit_code, reason = await self.execute(stage, log, waiting)
                if limit.cancelled_caught:
                    exit_code, reason = 124, f"timed out after {stage.timeout:g} s"
                status = RunStatus.PASSED if exit_code == 0 else RunStatus.FAILED
                changed = await anyio.to_thread.run_sync(source_guard.changed_files, before)
                if changed:
                    status, reason = RunStatus.FAILED, _changed_reason(changed, reason)
                self._finish(
                    StageRun(
                        stage.name,
                        status,
                        time.monotonic() - started,
                        exit_code,
                        str(log),
                        reason,
                        started - self.began,
                    )
                )
            if status is RunStatus.FAILED and self.fail_fast:
                self.failed_fast = True
                scope.cancel()
        finally:
            if waiting is not None:  # skipped or cancelled before it was let go
                with anyio.CancelScope(shield=True):
                    await waiting.discard()
            if stage.name not in self.results:
                # Ctrl-C and SIGTERM cancel the same scope: only our own cancel is fail-fast.
                reason = "fail-fast" if self.failed_fast else "interrupted"
                self._finish(StageRun(stage.name, RunStatus.CANCELLED, reason=reason))
            self._began[stage.name].set()
            finished[stage.name].set()

    def _finish(self, run: StageRun) -> None:
        self.results[run.name] = run
        self.on_event(run.name, run.status)


SHOWN_CHANGES = 10


def _changed_reason(changed: list[str], reason: str) -> str:
    names = ", ".join(changed[:SHOWN_CHANGES])
    if len(changed) > SHOWN_CHANGES:
        names += f" and {len(changed) - SHOWN_CHANGES} more"
    said = f"changed tracked source files: {names}"
    return f"{said}; {reason}" if reason else said


def shown(path: Path, project: Path) -> str:
    """A path as a person reads it in the run table: relative to the project when inside."""
    try:
        return str(path.relative_to(project))
    except ValueError:
        return str(path)


def default_parallelism() -> int:
    """Stages mostly wait on tools and I/O, so run a few more than there are cores."""
    return 2 * (os.cpu_count() or 2)


def run_plan(
    runner: str,
    layout: Layout,
    plan: Plan,
    execute: ExecuteStage,
    *,
    fail_fast: bool,
    on_event: OnEvent | None,
    max_parallel: int,
    prestart: Prestart | None = None,
) -> RunResult:
    """Schedule ``plan`` with ``execute`` running each stage, and time the whole run."""
    started = time.monotonic()
    scheduler = Scheduler(
        plan,
        layout,
        execute,
        fail_fast=fail_fast,
        on_event=on_event or ignore_event,
        max_parallel=max_parallel,
        prestart=prestart,
    )
    stages = scheduler.run()
    return RunResult(
        runner, stages, time.monotonic() - started, scheduler.interrupted, scheduler.source_check
    )
