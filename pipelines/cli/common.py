"""Helpers every command shares: the project directory and its config."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.config import PipelineConfig, load_config
from pipelines.errors import UsageError
from pipelines.layout import Layout
from pipelines.stages.base import StageContext


def project_dir(args: argparse.Namespace) -> Path:
    """The project directory named by ``-C`` (it must exist)."""
    project = Path(args.project)
    if not project.is_dir():
        raise UsageError(f"{project}: not a directory", hint="pass the project with -C DIR")
    return project.resolve()


def project_config(args: argparse.Namespace) -> PipelineConfig:
    """The project's validated pipeline.yaml (or the defaults)."""
    return load_config(project_dir(args), Path(args.config) if args.config else None)


def project_layout(args: argparse.Namespace, config: PipelineConfig) -> Layout:
    """Where reports and artifacts go: the command line, then pipeline.yaml, then the
    project's reports/ and artifacts/ (a runner's environment says so for its stages)."""
    project = project_dir(args)
    layout = Layout.of(project, reports=config.reports_dir, artifacts=config.artifacts_dir)
    # The command line wins; its relative paths are the current directory's, like --config.
    return Layout(
        project,
        Path(args.reports).resolve() if args.reports else layout.reports,
        Path(args.artifacts).resolve() if args.artifacts else layout.artifacts,
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
