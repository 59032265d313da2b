"""Helpers every command shares: the project directory and its config."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from pipelines.config import PipelineConfig, load_config
from pipelines.errors import UsageError
from pipelines.flags.evaluate import as_environment
from pipelines.flags.model import load_flags
from pipelines.plan import Plan, build_plan


def project_dir(args: argparse.Namespace) -> Path:
    """The project directory named by ``-C`` (it must exist)."""
    project = Path(args.project)
    if not project.is_dir():
        raise UsageError(f"{project}: not a directory", hint="pass the project with -C DIR")
    return project.resolve()


def project_config(args: argparse.Namespace) -> PipelineConfig:
    """The project's validated pipeline.yaml (or the defaults)."""
    return load_config(project_dir(args), Path(args.config) if args.config else None)


def project_plan(args: argparse.Namespace, env: str) -> Plan:
    """The plan for ``env``, with the project's feature flags evaluated now."""
    config = project_config(args)
    config.environment(env)
    flags_path = project_dir(args) / config.flags_file
    flag_env = (
        as_environment(load_flags(flags_path), env, datetime.now(UTC))
        if flags_path.is_file()
        else {}
    )
    return build_plan(config, env, flag_env)
