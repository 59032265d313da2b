"""A stage the project declares in pipeline.yaml: its commands, in the project's environment
unless it asks for the SDK's own.

On a source that cannot be written (a container's read-only mount, a read-only checkout) the
commands run in a private working copy of it, so a stage that builds (setuptools writing
``*.egg-info`` and ``build/``) works there too and leaves the checkout as it was; what it
writes under ``reports/`` still reaches the real reports directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pipelines.config.pipeline import CustomStage
from pipelines.errors import ToolError
from pipelines.layout import ARTIFACTS, REPORTS
from pipelines.process import run_streaming, show_command
from pipelines.project.commands import python_argv
from pipelines.stages.base import StageContext, StageResult, StageStatus, project_environment
from pipelines.stages.details import CustomDetails


def run_custom(context: StageContext, stage: CustomStage) -> StageResult[CustomDetails]:
    """Run the stage's commands in order; the first that fails fails the stage."""
    environ = dict(context.environ)
    python = sys.executable
    if stage.python == "project":
        try:
            env = project_environment(context)
        except ToolError as exc:
            return _finish(context, stage, StageStatus.FAILED, exc.message)
        if env is not None:
            environ, python = env.environ(environ), str(env.python)
    environ["PIPELINES_STAGE_REPORTS"] = str(context.reports(stage.name))
    with _workdir(context) as workdir:
        for index, argv in enumerate(stage.run, start=1):
            # {reports} is the reports directory, wherever --reports put it.
            placed = [arg.replace("{reports}", str(context.layout.reports)) for arg in argv]
            command = python_argv(placed, python)
            show_command(command)
            try:
                done = run_streaming(command, cwd=workdir, env=environ)
            except ToolError as exc:
                return _finish(context, stage, StageStatus.FAILED, exc.message)
            if done.returncode != 0:
                last = done.last_line()
                summary = f"command {index} exited with {done.returncode}: {last}"
                return _finish(context, stage, StageStatus.FAILED, summary)
    count = len(stage.run)
    return _finish(context, stage, StageStatus.PASSED, f"{count} command(s) passed")


def _outputs_of(project: Path) -> Callable[[str, list[str]], list[str]]:
    """What a working copy leaves out: the run's reports and artifacts, and byte code."""

    def ignored(folder: str, names: list[str]) -> list[str]:
        top = Path(folder) == project
        return [n for n in names if n == "__pycache__" or (top and n in (REPORTS, ARTIFACTS))]

    return ignored


@contextlib.contextmanager
def _workdir(context: StageContext) -> Iterator[Path]:
    """The project itself when it can be written, else a working copy removed afterwards."""
    if os.access(context.project, os.W_OK):
        yield context.project
        return
    with tempfile.TemporaryDirectory(prefix="pipelines-source-") as scratch:
        copy = Path(scratch) / context.project.name
        # symlinks: a link in the checkout stays a link, never what it points to.
        shutil.copytree(context.project, copy, symlinks=True, ignore=_outputs_of(context.project))
        # Relative report paths (reports/<stage>/...) land in the real reports directory.
        (copy / REPORTS).symlink_to(context.layout.reports, target_is_directory=True)
        yield copy


def _finish(
    context: StageContext, stage: CustomStage, status: StageStatus, summary: str
) -> StageResult[CustomDetails]:
    missing = [
        path
        for path in (*stage.junit, *stage.coverage)
        if not context.layout.report(path).is_file()
    ]
    if missing and status is StageStatus.PASSED:
        summary += f"; missing report(s): {', '.join(missing)}"
    result = StageResult(stage.name, status, summary, details=CustomDetails(tuple(missing)))
    result.write(context)
    return result
