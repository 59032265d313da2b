"""The plan of the project on the command line, with its feature flags evaluated now."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.common import flags_path, project_config, project_dir
from pipelines.config.pipeline import PipelineConfig
from pipelines.operations.planning import project_plan as plan_of
from pipelines.plan import Plan


def project_plan(args: argparse.Namespace, env: str, config: PipelineConfig | None = None) -> Plan:
    """The plan for ``env``, with the project's feature flags evaluated now."""
    config = config or project_config(args)
    return plan_of(
        project_dir(args),
        config,
        env,
        config_file=Path(args.config) if args.config else None,
        flags_file=flags_path(args, config),
    )
