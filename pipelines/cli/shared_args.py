"""The options several commands share, and ``pipelines stage``'s own command line: a stage
process parses its arguments with these alone, without building (or importing) every
command's parser."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

import msgspec

from pipelines.cli.completion import environment_names, offer, stage_names, stages_help
from pipelines.stages import STAGES


def listing(names: Iterable[str]) -> str:
    """``a, b or c``."""
    *first, last = names
    return f"{', '.join(first)} or {last}" if first else last


class Shared(msgspec.Struct, frozen=True):
    """Option groups several commands share."""

    common: argparse.ArgumentParser
    with_env: argparse.ArgumentParser
    as_json: argparse.ArgumentParser
    # Only the project and its pipeline file: for commands that write no reports or artifacts.
    project: argparse.ArgumentParser
    # --env without a default: for commands where an environment taken by omission surprises.
    env_required: argparse.ArgumentParser


def _project_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-C",
        "--project",
        default=".",
        metavar="DIR",
        help="the project directory (default: the current one)",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="pipeline file (default: DIR/pipeline.yaml; defaults if missing)",
    )


def shared_options() -> Shared:
    project = argparse.ArgumentParser(add_help=False)
    _project_options(project)
    common = argparse.ArgumentParser(add_help=False)
    _project_options(common)
    common.add_argument(
        "--reports",
        default=None,
        metavar="PATH",
        help="where reports go (default: pipeline.yaml's `reports`, else DIR/reports)",
    )
    common.add_argument(
        "--artifacts",
        default=None,
        metavar="PATH",
        help="where run artifacts go (default: pipeline.yaml's `artifacts`, else DIR/artifacts)",
    )
    with_env = argparse.ArgumentParser(add_help=False)
    offer(
        with_env.add_argument("--env", default="ci", help="environment (default: ci)"),
        environment_names,
    )
    env_required = argparse.ArgumentParser(add_help=False)
    offer(
        env_required.add_argument("--env", required=True, help="environment (required)"),
        environment_names,
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return Shared(common, with_env, as_json, project, env_required)


def stage_command(sub: Any, shared: Shared, argv: list[str]) -> None:
    # Only `pipelines stage --help` reads the project, so a stage's own start stays fast.
    asks_help = "stage" in argv and bool({"-h", "--help"} & set(argv))
    stage = sub.add_parser(
        "stage",
        parents=[shared.common, shared.with_env],
        help="run one stage's work here",
        epilog=stages_help(argv) if asks_help else None,
    )
    offer(
        stage.add_argument(
            "name", help=f"{listing(STAGES)}, or one of the project's own (listed below)"
        ),
        stage_names,
    )
