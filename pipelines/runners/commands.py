"""How a runner runs one of a stage's commands: in a session of its own, its output into the
stage's log (masked where it was given secrets), killed with everything it started when the
stage is cancelled. And the early start of a stage process while its needs still run.

An early start: a `pipelines stage` process spends most of its start loading its code, which
reads nothing of the project. A stage that needs others is started as soon as the run begins,
told (``WAITS``) to load its code and then wait for one line on its standard input before it
reads anything; the scheduler writes that line once the needs have finished and the stage
would have started, or kills the process when the stage is skipped or the run cancelled. What
the stage judges is exactly what it would judge started late; only the loading overlaps.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio
from anyio.abc import Process

from pipelines.child_env import Masker
from pipelines.process import kill_session
from pipelines.runners.waits import GO, WAITS

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
    # A `pipelines stage` process that may be started early (it knows WAITS).
    may_wait: bool = False


async def spawn(command: Command, log: BinaryIO, *, waits: bool = False) -> Process:
    """Start ``command`` in a session of its own, writing to ``log``; with ``waits``, as an
    early start (its stdin a pipe for the line that lets it go)."""
    env = {**command.env, WAITS: "1"} if waits else command.env
    process = await anyio.open_process(
        command.argv,
        stdin=subprocess.PIPE if waits else subprocess.DEVNULL,
        # With secrets to mask the output passes through us; otherwise straight to the log.
        stdout=subprocess.PIPE if command.secrets else log,
        stderr=subprocess.STDOUT,
        cwd=command.cwd,
        env=env,
        start_new_session=True,
    )
    if command.niceness:
        # Before the stage's interpreter has started any tool (they inherit it); a process
        # that is already gone, or a kernel that refuses, leaves the priority as it was.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, command.niceness)
    return process


async def supervise(process: Process, command: Command, log: BinaryIO) -> int:
    """Wait for ``process`` (masking its output into ``log`` where it has secrets); cancelled
    (timeout, Ctrl-C, fail-fast), it is killed with everything it started."""
    try:
        if process.stdout is not None:
            masker = Masker(command.secrets)
            async for chunk in process.stdout:
                log.write(masker.feed(chunk))
            log.write(masker.flush())
            log.flush()
        return await process.wait()
    except BaseException:
        await stop(process, command)
        raise


async def stop(process: Process, command: Command) -> None:
    """Kill the process with everything it started, and run the command's cleanup."""
    kill_session(process.pid)
    with anyio.CancelScope(shield=True):
        await process.wait()
        if command.cleanup:
            await anyio.run_process(list(command.cleanup), check=False)


async def run_in_group(command: Command, log: BinaryIO) -> int:
    """Run ``command`` in a session of its own, killed with everything it started when
    cancelled, so no tool outlives its stage."""
    return await supervise(await spawn(command, log), command, log)


@dataclass
class Waiting:
    """A stage's first command, started early: loaded, and waiting for its line."""

    process: Process
    command: Command
    log: contextlib.ExitStack  # holds the stage's log open
    handle: BinaryIO
    released: bool = False

    async def run(self) -> int:
        """Let it go, and supervise it as any command."""
        self.released = True
        try:
            if self.process.stdin is not None:
                await self.process.stdin.send(GO)
                await self.process.stdin.aclose()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # it died while waiting: its exit code says so
        return await supervise(self.process, self.command, self.handle)

    async def discard(self) -> None:
        """Kill it unreleased (the stage is skipped, or the run cancelled) and close the log."""
        if not self.released:
            self.released = True
            await stop(self.process, self.command)
        self.log.close()
