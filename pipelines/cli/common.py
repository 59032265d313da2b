"""Helpers every command shares: the project directory and its config."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.config import PipelineConfig, load_config
from pipelines.errors import UsageError


def project_dir(args: argparse.Namespace) -> Path:
    """The project directory named by ``-C`` (it must exist)."""
    project = Path(args.project)
    if not project.is_dir():
        raise UsageError(f"{project}: not a directory", hint="pass the project with -C DIR")
    return project.resolve()


def project_config(args: argparse.Namespace) -> PipelineConfig:
    """The project's validated pipeline.yaml (or the defaults)."""
    return load_config(project_dir(args), Path(args.config) if args.config else None)


def flags_path(args: argparse.Namespace, config: PipelineConfig | None = None) -> Path:
    """The flags file: ``--file`` when given, else pipeline.yaml's ``flags`` (one resolution,
    used by every command)."""
    if getattr(args, "file", None):
        return Path(args.file)
    config = config or project_config(args)
    return project_dir(args) / config.flags_file
