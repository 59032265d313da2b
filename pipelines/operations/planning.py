"""A project's plan for one environment, with its feature flags evaluated now."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.config.pipeline import PipelineConfig
from pipelines.flags.evaluate import as_environment
from pipelines.flags.model import load_flags
from pipelines.layout import Layout
from pipelines.plan import Plan, build_plan
from pipelines.process import tool_path
from pipelines.project.environment import installer
from pipelines.project.facts import read_facts


def project_plan(
    project: Path,
    config: PipelineConfig,
    env: str,
    *,
    config_file: Path | None = None,
    flags_file: Path | None = None,
) -> Plan:
    """The plan for ``env``; ``config_file`` is the pipeline file given explicitly, which
    every stage is then told about, and ``flags_file`` replaces pipeline.yaml's ``flags``."""
    config.environment(env)
    flags = flags_file or project / config.flags_file
    flag_env = as_environment(load_flags(flags), env, datetime.now(UTC)) if flags.is_file() else {}
    return build_plan(
        config,
        env,
        flag_env,
        facts=read_facts(project),
        config_file=config_argument(config_file, project),
        installer=installer(tool_path(os.environ.get("PATH", os.defpath))),
    )


@dataclass(frozen=True)
class RunnerFacts:
    """Where a plan's stages run: the runner, the image (containers) and the Python version
    the stages run with."""

    runner: str
    python: str
    image: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The ``runner`` entry of ``pipelines plan --json --runner NAME``."""
        return {"name": self.runner, "python": self.python, "image": self.image}


def runner_facts(runner: str, layout: Layout, environ: Mapping[str, str]) -> RunnerFacts:
    """The facts of ``runner`` for this project (the docker runner builds its toolchain image
    unless it exists, as a run would)."""
    if runner == "docker":
        from pipelines.runners.docker import describe_toolchain  # noqa: PLC0415 - only here

        image, python = describe_toolchain(layout, environ)
        return RunnerFacts(runner, python, image)
    return RunnerFacts(runner, platform.python_version())


def config_argument(config_file: Path | None, project: Path) -> str | None:
    """``--config`` as every stage must be given it: relative to the project when inside it."""
    if config_file is None:
        return None
    path = config_file.resolve()
    try:
        return str(path.relative_to(project))
    except ValueError:
        return str(path)
