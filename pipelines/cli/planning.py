"""The plan of the project on the command line, with its feature flags evaluated now."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from pipelines.cli.common import flags_path, project_config, project_dir
from pipelines.config import PipelineConfig
from pipelines.flags.evaluate import as_environment
from pipelines.flags.model import load_flags
from pipelines.plan import Plan, build_plan
from pipelines.process import tool_path
from pipelines.project_env import installer
from pipelines.project_facts import read_facts


def project_plan(args: argparse.Namespace, env: str, config: PipelineConfig | None = None) -> Plan:
    """The plan for ``env``, with the project's feature flags evaluated now."""
    config = config or project_config(args)
    config.environment(env)
    project = project_dir(args)
    flags = flags_path(args, config)
    flag_env = as_environment(load_flags(flags), env, datetime.now(UTC)) if flags.is_file() else {}
    return build_plan(
        config,
        env,
        flag_env,
        facts=read_facts(project),
        config_file=config_argument(args, project),
        installer=installer(tool_path(os.environ.get("PATH", os.defpath))),
    )


def config_argument(args: argparse.Namespace, project: Path) -> str | None:
    """``--config`` as every stage must be given it: relative to the project when inside it."""
    if not args.config:
        return None
    path = Path(args.config).resolve()
    try:
        return str(path.relative_to(project))
    except ValueError:
        return str(path)
