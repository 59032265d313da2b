"""Runners execute a plan's DAG. They know where a command runs, never what a stage does."""

from __future__ import annotations

from pipelines.runners.base import Runner
from pipelines.runners.docker import DockerRunner
from pipelines.runners.local import LocalRunner

RUNNERS: dict[str, type[Runner]] = {"local": LocalRunner, "docker": DockerRunner}
