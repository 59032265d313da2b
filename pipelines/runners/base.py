"""The runner Protocol and the DAG scheduling every runner shares."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import BinaryIO, Protocol

import anyio

from pipelines import containment
from pipelines.child_env import Masker
from pipelines.layout import LOG, Layout
from pipelines.plan import Plan, PlannedStage
from pipelines.process import kill_session
from pipelines.runners import source_guard
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


ExecuteStage = Callable[[PlannedStage, Path], Awaitable[tuple[int, str]]]
MISSING_EXECUTABLE = 127  # what a shell, and docker run, exit with for a command not found


@dataclass(frozen=True)
class Command:
    """One of a stage's commands as a runner builds it: the only thing runners differ in."""

    argv: list[str]
    env: Mapping[str, str]
    cwd: Path | None = None
    # Run (shielded) when the stage is cancelled: what killing ``argv`` does not stop.
    cleanup: tuple[str, ...] = ()
    # The reason to give when ``argv`` exits with MISSING_EXECUTABLE.
    missing: str = ""
    # Values masked in the stage's log (secret-looking variables the stage was passed).
    secrets: tuple[str, ...] = ()
    # Above 0 for a stage off the critical path (runners/priority.py); what it starts inherits it.
    niceness: int = 0


BuildCommand = Callable[[PlannedStage, tuple[str, ...], int], Command]


def stage_executor(build: BuildCommand, project: Path) -> ExecuteStage:
    """The one execution path of every runner: each of a stage's commands in turn, into the
    stage's log, the first failure ending the stage with a reason a person can act on."""

    async def execute(stage: PlannedStage, log: Path) -> tuple[int, str]:
        # The stage's directory is where a stage could have left a link to a host file.
        with containment.write_new(
            log.parent.parent, PurePath(log.parent.name, log.name)
        ) as handle:
            for index, argv in enumerate(stage.run):
                command = build(stage, argv, index)
                try:
                    code = await run_in_group(command, handle)
                except FileNotFoundError:
                    return MISSING_EXECUTABLE, f"{command.argv[0]}: not found on PATH"
                if code == MISSING_EXECUTABLE and command.missing:
                    return code, command.missing
                if code != 0:
                    return code, f"exit code {code}, see {shown(log, project)}"
        return 0, ""

    return execute


async def run_in_group(command: Command, log: BinaryIO) -> int:
    """Run ``command`` in a session of its own; cancelled (timeout, Ctrl-C, fail-fast), it is
    killed with everything it started, so no tool outlives its stage."""
    process = await anyio.open_process(
        command.argv,
        stdin=subprocess.DEVNULL,
        # With secrets to mask the output passes through us; otherwise straight to the log.
        stdout=subprocess.PIPE if command.secrets else log,
        stderr=subprocess.STDOUT,
        cwd=command.cwd,
        env=command.env,
        start_new_session=True,
    )
    if command.niceness:
        # Before the stage's interpreter has started any tool (they inherit it); a process
        # that is already gone, or a kernel that refuses, leaves the priority as it was.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, command.niceness)
    try:
        if process.stdout is not None:
            masker = Masker(command.secrets)
            async for chunk in process.stdout:
                log.write(masker.feed(chunk))
            log.write(masker.flush())
            log.flush()
        return await process.wait()
    except BaseException:
        kill_session(process.pid)
        with anyio.CancelScope(shield=True):
            await process.wait()
            if command.cleanup:
                await anyio.run_process(list(command.cleanup), check=False)
        raise


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
    results: dict[str, StageRun] = field(default_factory=dict)

    interrupted: bool = False
    failed_fast: bool = False
    began: float = 0.0
    # How the stages were checked for changing the source: by git's tracked files, unless
    # git could not list them here.
    source_check: str = TRACKED

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
        limiter = anyio.CapacityLimiter(self.max_parallel)
        async with anyio.create_task_group() as group:
            for stage in self.plan.stages:
                group.start_soon(self._stage, stage, finished, limiter, group.cancel_scope)

    async def _stage(
        self,
        stage: PlannedStage,
        finished: Mapping[str, anyio.Event],
        limiter: anyio.CapacityLimiter,
        scope: anyio.CancelScope,
    ) -> None:
        try:
            for need in stage.needs:
                await finished[need].wait()
            blocked = [n for n in stage.needs if self.results[n].status is not RunStatus.PASSED]
            if blocked and stage.run_if != "always":
                self._finish(
                    StageRun(stage.name, RunStatus.SKIPPED, reason=f"needs {', '.join(blocked)}")
                )
                return
            async with limiter:
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
                    exit_code, reason = await self.execute(stage, log)
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
            if stage.name not in self.results:
                # Ctrl-C and SIGTERM cancel the same scope: only our own cancel is fail-fast.
                reason = "fail-fast" if self.failed_fast else "interrupted"
                self._finish(StageRun(stage.name, RunStatus.CANCELLED, reason=reason))
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
    )
    stages = scheduler.run()
    return RunResult(
        runner, stages, time.monotonic() - started, scheduler.interrupted, scheduler.source_check
    )
