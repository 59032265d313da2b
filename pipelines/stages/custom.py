"""A stage the project declares in pipeline.yaml: its commands, in the project's environment
unless it asks for the SDK's own."""

from __future__ import annotations

import sys

from pipelines.config.pipeline import CustomStage
from pipelines.errors import ToolError
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
    for index, argv in enumerate(stage.run, start=1):
        # {reports} is the reports directory, wherever --reports put it.
        placed = [arg.replace("{reports}", str(context.layout.reports)) for arg in argv]
        command = python_argv(placed, python)
        show_command(command)
        try:
            done = run_streaming(command, cwd=context.project, env=environ)
        except ToolError as exc:
            return _finish(context, stage, StageStatus.FAILED, exc.message)
        if done.returncode != 0:
            last = done.last_line()
            summary = f"command {index} exited with {done.returncode}: {last}"
            return _finish(context, stage, StageStatus.FAILED, summary)
    count = len(stage.run)
    return _finish(context, stage, StageStatus.PASSED, f"{count} command(s) passed")


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
