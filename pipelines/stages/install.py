"""The install stage: the project's own virtualenv, built (or found in the cache) before the
stages that run the project's code."""

from __future__ import annotations

from pipelines.errors import ToolError
from pipelines.project.environment import ensure, install_plan
from pipelines.project.facts import read_facts
from pipelines.stages.base import StageContext, StageResult, StageStatus
from pipelines.stages.details import InstallDetails


def run(context: StageContext) -> StageResult[InstallDetails]:
    """Build the environment unless an identical one is cached."""
    plan = install_plan(context.config, read_facts(context.project))
    try:
        env, built = ensure(context.project, plan, context.environ)
    except ToolError as exc:
        result = StageResult("install", StageStatus.FAILED, exc.message, InstallDetails(None))
    else:
        summary = ("built " if built else "reused ") + str(env.path)
        result = StageResult("install", StageStatus.PASSED, summary, InstallDetails(str(env.path)))
    result.write(context)
    return result
