"""The plan of the project on the command line, with its feature flags evaluated now."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from pipelines.cli.common import project_config, project_dir
from pipelines.flags.evaluate import as_environment
from pipelines.flags.model import load_flags
from pipelines.plan import Plan, build_plan


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
