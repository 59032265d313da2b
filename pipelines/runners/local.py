"""The local runner: each stage's commands run as subprocesses on the host."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from pipelines.child_env import child_environment, secret_values
from pipelines.layout import ARTIFACTS_ENV, REPORTS_ENV, Layout
from pipelines.plan import Plan, PlannedStage
from pipelines.process import tool_path
from pipelines.runners.base import (
    OnEvent,
    default_parallelism,
    run_plan,
    stage_executor,
    stage_prestarter,
)
from pipelines.runners.commands import Command
from pipelines.runners.priority import OFF_PATH_NICENESS, off_critical_path
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
        # Every stage process writes where this run's layout says, and finds the tools
        # installed next to this interpreter (a virtualenv) first on PATH.
        self.runner_env = {
            REPORTS_ENV: str(self.layout.reports),
            ARTIFACTS_ENV: str(self.layout.artifacts),
            "PATH": tool_path(self.environ.get("PATH", os.defpath)),
        }
        self.max_parallel = max_parallel or default_parallelism()
        self.background: frozenset[str] = frozenset()  # stages off the critical path

    def run(
        self, plan: Plan, *, fail_fast: bool = False, on_event: OnEvent | None = None
    ) -> RunResult:
        """Run the plan on the host; stages off its critical path at a lower CPU priority."""
        self.background = off_critical_path(plan)
        return run_plan(
            self.name,
            self.layout,
            plan,
            stage_executor(self._command, self.project),
            fail_fast=fail_fast,
            on_event=on_event,
            max_parallel=self.max_parallel,
            prestart=stage_prestarter(self._command),
        )

    def _command(self, stage: PlannedStage, argv: tuple[str, ...], _index: int) -> Command:
        # The stage gets the declared environment, never all of ours (docs/environment.md).
        env = child_environment(self.environ, pass_env=stage.pass_env, declared=stage.env)
        env.update(self.runner_env)
        return Command(
            host_command(argv, env["PATH"]),
            env,
            cwd=self.project,
            secrets=secret_values(env),
            niceness=OFF_PATH_NICENESS if stage.name in self.background else 0,
            may_wait=argv[:2] == ("pipelines", "stage"),
        )
