"""Where a run's files live: one place that knows every report path.

Plans, stages, the gate and the artifacts speak of reports by their *logical* path,
``reports/<stage>/<file>`` (the plan contract that every runner and the Dagger module read).
A ``Layout`` maps those onto the real directories: ``reports/`` and ``artifacts/`` inside the
project by default, or anywhere else (``--reports DIR``, ``--artifacts DIR``, the same keys in
pipeline.yaml), so a read-only checkout can still be run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import msgspec

from pipelines.errors import UsageError

REPORTS = "reports"
ARTIFACTS = "artifacts"
# How a runner tells a stage process where reports go (a container's own path, or the host's).
REPORTS_ENV = "PIPELINES_REPORTS_DIR"
ARTIFACTS_ENV = "PIPELINES_ARTIFACTS_DIR"

# The files stages write, in their stage's directory.
RESULT = "result.json"
LOG = "log.txt"
JUNIT = "junit.xml"
COVERAGE = "coverage.xml"
REPORT_LOG = "report-log.jsonl"
SARIF = "security.sarif"
DECISION = "decision.json"


def cache_root(environ: Mapping[str, str]) -> Path:
    """Where the SDK keeps what it can rebuild (environments, tools, checked configs):
    PIPELINES_CACHE_DIR, else the user's cache directory."""
    if environ.get("PIPELINES_CACHE_DIR"):
        return Path(environ["PIPELINES_CACHE_DIR"])
    home = environ.get("HOME")
    if not home:  # still somewhere writable
        import tempfile  # noqa: PLC0415 - rare; every stage process imports this module

        home = tempfile.gettempdir()
    base = environ.get("XDG_CACHE_HOME") or str(Path(home) / ".cache")
    return Path(base) / "portable-pipelines"


def project_directory(path: Path) -> Path:
    """The project directory ``path``, resolved; it must exist."""
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory", hint="pass the project with -C DIR")
    return path.resolve()


def _project_own(project: Path, place: Path, key: str, source: str) -> None:
    """Refuse a reports or artifacts directory the project's own files chose outside it.

    The host clears, writes, mounts writable into containers (a stage's reports directory)
    and collects from these: a project that could point them at ``~/.config``, or at its
    own ``.git`` (``hooks/``), would have the host do that to the caller's files.
    """
    # Lexically first (a link is judged below, by where it really leads).
    home = Path(os.path.normpath(Path.cwd() / project))
    lexical = Path(os.path.normpath(Path.cwd() / place))
    hint = f"pass --{key} DIR on the command line to use a directory elsewhere"
    if lexical == home or not lexical.is_relative_to(home):
        raise UsageError(
            f"{source}: {key}: {place} is not a directory inside the project", hint=hint
        )
    if lexical.relative_to(home).parts[0] == ".git":
        raise UsageError(f"{source}: {key}: {place} is inside the project's .git", hint=hint)
    real = lexical.resolve()
    if real == home.resolve() or not real.is_relative_to(home.resolve()):
        raise UsageError(
            f"{place}: {key} would lead out of the project through a symbolic link (to {real})",
            hint=f"remove the link, or {hint}",
        )


def logical(stage: str, name: str) -> str:
    """The plan's spelling of a stage's report: ``reports/<stage>/<name>``."""
    return f"{REPORTS}/{stage}/{name}"


# The gate's decision: as plans and stages name it, and as a run's artifacts keep it
# (``artifacts/<run-id>/gate-decision.json``, where deploys and reports look for it).
GATE_DECISION = logical("gate", DECISION)
DECISION_ARTIFACT = "gate-decision.json"


class Layout(msgspec.Struct, frozen=True):
    """The real directories of one project's reports and artifacts."""

    project: Path
    reports: Path
    artifacts: Path

    @classmethod
    def of(
        cls,
        project: Path,
        environ: Mapping[str, str] | None = None,
        *,
        reports: str | None = None,
        artifacts: str | None = None,
    ) -> Layout:
        """Resolve the directories: given values (the command line, then pipeline.yaml)
        unless a runner set them in the environment; relative ones are the project's."""
        environ = os.environ if environ is None else environ
        chosen_reports = environ.get(REPORTS_ENV) or reports or REPORTS
        chosen_artifacts = environ.get(ARTIFACTS_ENV) or artifacts or ARTIFACTS
        return cls(project, project / chosen_reports, project / chosen_artifacts)

    @classmethod
    def chosen(
        cls,
        project: Path,
        *,
        configured: tuple[str | None, str | None] = (None, None),
        reports: Path | None = None,
        artifacts: Path | None = None,
        source: str = "pipeline.yaml",
    ) -> Layout:
        """The directories given explicitly (the command line; relative ones are the current
        directory's, like ``--config``), else as ``of`` resolves them from the ``configured``
        reports and artifacts (pipeline.yaml's keys, named ``source``), which must be
        directories of the project's own."""
        layout = cls.of(project, reports=configured[0], artifacts=configured[1])
        for key, given, variable, place in (
            (REPORTS, reports, REPORTS_ENV, layout.reports),
            (ARTIFACTS, artifacts, ARTIFACTS_ENV, layout.artifacts),
        ):
            # The command line and a runner's environment are the caller's own choice.
            if given is None and not os.environ.get(variable):
                _project_own(project, place, key, source)
        chosen = cls(
            project,
            reports.resolve() if reports else layout.reports,
            artifacts.resolve() if artifacts else layout.artifacts,
        )
        for option, path in (("--reports", chosen.reports), ("--artifacts", chosen.artifacts)):
            # A file there would read as an empty history and fail only when written to.
            if path.exists() and not path.is_dir():
                raise UsageError(
                    f"{option} {path}: exists and is not a directory",
                    hint=f"move the file out of the way, or pass {option} DIR",
                )
        return chosen

    def stage(self, name: str) -> Path:
        """A stage's report directory."""
        return self.reports / name

    def report(self, path: str) -> Path:
        """Where a logical report path (``reports/<stage>/<file>``) really is."""
        root, relative = self.located(path)
        return root / relative

    def located(self, path: str) -> tuple[Path, PurePosixPath]:
        """A logical path as the trusted directory it lies in and the part below it that a
        stage could have written (what the host walks without following links)."""
        parts = PurePosixPath(path).parts
        if parts[:1] != (REPORTS,):
            return self.project, PurePosixPath(path)
        return self.reports, PurePosixPath(*parts[1:])
