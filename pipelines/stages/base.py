"""What every stage receives and returns."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Generic, TypeVar

import msgspec

from pipelines import atomic
from pipelines.config.pipeline import Environment, PipelineConfig
from pipelines.errors import ReportError, UsageError
from pipelines.layout import RESULT, Layout
from pipelines.project.environment import ProjectEnv, ensure, install_plan
from pipelines.project.facts import read_facts
from pipelines.readers.findings import Finding

D = TypeVar("D")


class StageStatus(StrEnum):
    """A stage's verdict on its own work."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_CHECKED = "not-checked"  # the tool could not run; never counted as a pass


class StageContext(msgspec.Struct, frozen=True, dict=True):  # dict: for cached_property
    """The project a stage works on and the settings it runs with."""

    project: Path
    config: PipelineConfig
    env: str
    environ: Mapping[str, str] = msgspec.field(default_factory=lambda: dict(os.environ))
    # Set by the command line (--reports, --artifacts); else from the environment and config.
    given_layout: Layout | None = None

    @property
    def environment(self) -> Environment:
        """The selected environment's settings."""
        return self.config.environment(self.env)

    @cached_property
    def layout(self) -> Layout:
        """Where this project's reports and artifacts are."""
        if self.given_layout is not None:
            return self.given_layout
        return Layout.of(
            self.project,
            self.environ,
            reports=self.config.reports_dir,
            artifacts=self.config.artifacts_dir,
        )

    def reports(self, stage: str) -> Path:
        """A stage's report directory (``reports/<stage>/`` by default), created on demand."""
        path = self.layout.stage(stage)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError, PermissionError) as exc:
            raise UsageError(
                f"{path}: the stage's reports cannot be written there ({exc.strerror})",
                hint="pass --reports DIR (or set reports: in pipeline.yaml) to a writable place",
            ) from exc
        return path


class StageResult(msgspec.Struct, Generic[D], frozen=True):
    """The outcome of one stage, written as ``reports/<stage>/result.json``; ``details`` is
    the stage's own record (``stages.details``)."""

    stage: str
    status: StageStatus
    summary: str
    details: D
    findings: tuple[Finding, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 unless the stage failed."""
        return 1 if self.status is StageStatus.FAILED else 0

    def write(self, context: StageContext) -> Path:
        """Write result.json atomically and return its path."""
        path = context.reports(self.stage) / RESULT
        atomic.write_json(path, msgspec.to_builtins(self))
        return path


def read_result(path: Path, details: type[D]) -> StageResult[D]:
    """A result.json decoded into its stage's types; anything else is a ReportError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReportError(str(path), f"is not a stage result written by this tool ({exc})") from exc
    return decode_result(raw, str(path), details)


def decode_result(raw: bytes, where: str, details: type[D]) -> StageResult[D]:
    """The bytes of a result.json (read from ``where``) decoded into its stage's types;
    anything else is a ReportError."""
    try:
        return msgspec.json.decode(raw, type=StageResult[details])  # type: ignore[valid-type]
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ReportError(where, f"is not a stage result written by this tool ({exc})") from exc


def relative(path: str, project: Path) -> str:
    """Show a tool's file path relative to the project when it lies inside it."""
    if not path:
        return path
    # Tools report paths relative to the directory they ran in: the project.
    absolute = (project / path).resolve()
    try:
        return str(absolute.relative_to(project.resolve()))
    except ValueError:
        return path


def project_environment(context: StageContext) -> ProjectEnv | None:
    """The project's environment (built now if no earlier stage did), or None when
    pipeline.yaml turns it off and stages use the SDK's own interpreter."""
    if not context.config.project_env.enabled:
        return None
    plan = install_plan(context.config, read_facts(context.project))
    env, _built = ensure(context.project, plan, context.environ)
    return env


# Containers mount the source read-only, so tools must keep caches out of the tree.
READ_ONLY_SAFE_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
