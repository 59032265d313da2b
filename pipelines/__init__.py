"""portable-pipelines: one pipeline definition, run alike on a laptop, in Docker or in Dagger.

The Python API (docs/python-api.md) is what ``__all__`` names: load a project's pipeline.yaml,
plan one of its environments, run it, and deploy, with the same operations the command line
calls::

    from pathlib import Path
    import pipelines

    outcome = pipelines.run_pipeline(pipelines.RunRequest(Path("."), env="ci"))
    print(outcome.exit_code, outcome.manifest)

Names load on first use: ``import pipelines`` stays cheap for the stage processes that import
a single module of the package.
"""

from __future__ import annotations

import importlib
import importlib.util

# Not typing's: importing typing here would double the time `python -m pipelines` spends
# before its Ctrl-C handling is in place (type checkers read any TYPE_CHECKING as true).
TYPE_CHECKING = False

__version__ = "0.1.0"

# The run lock, the audit log and environment builds rely on POSIX file locks (fcntl): the
# SDK supports Linux and macOS, and says so on import instead of failing halfway into a run.
if importlib.util.find_spec("fcntl") is None:  # pragma: no cover - Linux and macOS have it
    raise ImportError(
        "portable-pipelines runs on Linux and macOS (it needs POSIX file locks, the fcntl "
        "module); on Windows, run it in WSL or in a container"
    )

if TYPE_CHECKING:
    from pipelines.config.pipeline import PipelineConfig, load_config
    from pipelines.deploy import operations as deploys
    from pipelines.deploy.environment import DeployEnv
    from pipelines.deploy.operations import DeployRequest
    from pipelines.errors import ConfigError, PipelineError, UsageError
    from pipelines.operations.planning import project_plan
    from pipelines.operations.run import RunOutcome, RunRequest, run_pipeline
    from pipelines.plan import Plan, PlannedStage
    from pipelines.runners.results import RunResult, RunStatus, StageRun

# Each public name and the module that defines it.
_HOMES = {
    "load_config": "pipelines.config.pipeline",
    "PipelineConfig": "pipelines.config.pipeline",
    "project_plan": "pipelines.operations.planning",
    "Plan": "pipelines.plan",
    "PlannedStage": "pipelines.plan",
    "run_pipeline": "pipelines.operations.run",
    "RunRequest": "pipelines.operations.run",
    "RunOutcome": "pipelines.operations.run",
    "RunResult": "pipelines.runners.results",
    "RunStatus": "pipelines.runners.results",
    "StageRun": "pipelines.runners.results",
    "DeployEnv": "pipelines.deploy.environment",
    "DeployRequest": "pipelines.deploy.operations",
    "PipelineError": "pipelines.errors",
    "ConfigError": "pipelines.errors",
    "UsageError": "pipelines.errors",
}
# Modules that are public as a whole: the deploy operations (deploy, rollback, promote, watch,
# drill) as ``pipelines.deploys.deploy(...)``, beside the ``pipelines.deploy`` package.
_MODULES = {"deploys": "pipelines.deploy.operations"}

__all__ = [
    "ConfigError",
    "DeployEnv",
    "DeployRequest",
    "PipelineConfig",
    "PipelineError",
    "Plan",
    "PlannedStage",
    "RunOutcome",
    "RunRequest",
    "RunResult",
    "RunStatus",
    "StageRun",
    "UsageError",
    "__version__",
    "deploys",
    "load_config",
    "project_plan",
    "run_pipeline",
]


def __getattr__(name: str) -> object:
    """A public name, imported from its module the first time it is asked for."""
    if name in _MODULES:
        value: object = importlib.import_module(_MODULES[name])
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    globals()[name] = value  # asked once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
