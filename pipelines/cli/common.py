"""Helpers every command shares: the project directory and its config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.config.cache import load_cached
from pipelines.config.pipeline import PipelineConfig
from pipelines.layout import Layout, project_directory
from pipelines.stages.base import StageContext

if TYPE_CHECKING:  # a stage's command line is read without argparse (stage_argv.py)
    import argparse


def project_dir(args: argparse.Namespace) -> Path:
    """The project directory named by ``-C`` (it must exist)."""
    return project_directory(Path(args.project))


def project_config(args: argparse.Namespace) -> PipelineConfig:
    """The project's validated pipeline.yaml (or the defaults)."""
    return load_cached(project_dir(args), Path(args.config) if args.config else None, os.environ)


def project_layout(args: argparse.Namespace, config: PipelineConfig) -> Layout:
    """Where reports and artifacts go: the command line, then pipeline.yaml, then the
    project's reports/ and artifacts/ (a runner's environment says so for its stages)."""
    return Layout.chosen(
        project_dir(args),
        configured=(config.reports_dir, config.artifacts_dir),
        reports=Path(args.reports) if args.reports else None,
        artifacts=Path(args.artifacts) if args.artifacts else None,
        source=config.source,
    )


def stage_context(args: argparse.Namespace, config: PipelineConfig, env: str) -> StageContext:
    """What a stage (or a command doing a stage's work) needs, with the command line's
    layout."""
    return StageContext(
        project_dir(args),
        config,
        config.environment(env).name,
        given_layout=project_layout(args, config),
    )


def flags_path(args: argparse.Namespace, config: PipelineConfig | None = None) -> Path:
    """The flags file: ``--file`` when given, else pipeline.yaml's ``flags`` (one resolution,
    used by every command)."""
    if getattr(args, "file", None):
        return Path(args.file)
    config = config or project_config(args)
    return project_dir(args) / config.flags_file
