"""The local runner: each stage's commands run as subprocesses on the host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import anyio

from pipelines.layout import ARTIFACTS_ENV, REPORTS_ENV, Layout
from pipelines.plan import Plan, PlannedStage
from pipelines.process import kill_session, tool_path
from pipelines.runners.base import OnEvent, default_parallelism, run_plan, shown
from pipelines.runners.results import RunResult


def host_command(argv: tuple[str, ...], path: str) -> list[str]:
    """Resolve ``pipelines`` to this interpreter when its console script is not installed."""
    if argv[0] == "pipelines" and shutil.which("pipelines", path=path) is None:
        return [sys.executable, "-m", "pipelines", *argv[1:]]
    return list(argv)


class LocalRunner:
    """Runs stages on the host, in DAG order, independent stages in parallel."""

    name = "local"

    def __init__(
        self,
        project: Path,
        *,
        layout: Layout | None = None,
        environ: Mapping[str, str] | None = None,
        max_parallel: int | None = None,
    ) -> None:
        self.project = project
        self.environ = dict(os.environ if environ is None else environ)
        self.layout = layout or Layout.of(project, self.environ)
        # Every stage process writes where this run's layout says.
        self.environ[REPORTS_ENV] = str(self.layout.reports)
        self.environ[ARTIFACTS_ENV] = str(self.layout.artifacts)
        # Tools installed next to this interpreter (a virtualenv) come first on PATH.
        self.environ["PATH"] = tool_path(self.environ.get("PATH", os.defpath))
        self.max_parallel = max_parallel or default_parallelism()

    def run(
        self, plan: Plan, *, fail_fast: bool = False, on_event: OnEvent | None = None
    ) -> RunResult:
        """Run the plan on the host."""
        return run_plan(
            self.name,
            self.layout,
            plan,
            self._execute,
            fail_fast=fail_fast,
            on_event=on_event,
            max_parallel=self.max_parallel,
        )

    async def _execute(self, stage: PlannedStage, log: Path) -> tuple[int, str]:
        env = {**self.environ, **stage.env}
        with log.open("wb") as handle:
            for argv in stage.run:
                command = host_command(argv, env["PATH"])
                try:
                    returncode = await run_in_group(command, handle, cwd=self.project, env=env)
                except FileNotFoundError:
                    return 127, f"{command[0]}: not found on PATH"
                if returncode != 0:
                    return (
                        returncode,
                        f"exit code {returncode}, see {shown(log, self.project)}",
                    )
        return 0, ""


async def run_in_group(
    command: list[str], log: BinaryIO, *, cwd: Path, env: Mapping[str, str]
) -> int:
    """Run ``command`` in a session of its own; cancelled (timeout, Ctrl-C, fail-fast), it is
    killed with everything it started, so no tool outlives its stage."""
    process = await anyio.open_process(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    try:
        return await process.wait()
    except BaseException:
        kill_session(process.pid)
        with anyio.CancelScope(shield=True):
            await process.wait()
        raise
