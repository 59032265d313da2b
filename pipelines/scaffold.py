"""``pipelines init``: a pipeline.yaml and the thin CI workflow for another repository."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pipelines import atomic
from pipelines.errors import UsageError

DEFAULT_MODULE = "github.com/OWNER/portable-pipelines@v0.1.0"
_MODULE = re.compile(r"[A-Za-z0-9._/@:-]+")
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_PATH = re.compile(r"[A-Za-z0-9._/-]+")


@dataclass(frozen=True)
class Scaffolded:
    """The files ``init`` wrote."""

    files: tuple[Path, ...]
    ignored: tuple[str, ...] = ()  # what .gitignore gained


def _template(name: str) -> str:
    return (resources.files("pipelines") / "templates" / name).read_text(encoding="utf-8")


def schema_line(module: str, kind: str) -> str:
    """The comment that points editors (yaml-language-server) at the JSON Schema published with
    the module's version; empty for a module not on GitHub."""
    match = re.fullmatch(r"github\.com/([^/@]+)/([^/@]+)@([^/@]+)", module)
    if match is None:
        return ""
    owner, repo, version = match.groups()
    url = (
        f"https://raw.githubusercontent.com/{owner}/{repo}/{version}/docs/schema/{kind}.schema.json"
    )
    return f"# yaml-language-server: $schema={url}\n"


def scaffold(
    project: Path,
    *,
    module: str = DEFAULT_MODULE,
    force: bool = False,
    config: Path | None = None,
) -> Scaffolded:
    """Write the pipeline file (``config``, default pipeline.yaml) and
    .github/workflows/ci.yml, which passes that file on; existing files stay unless ``force``."""
    if not _MODULE.fullmatch(module):
        raise UsageError(
            f"--module {module!r} is not a module address",
            hint="for example github.com/OWNER/REPO@v1.2.3",
        )
    name = project.resolve().name if _NAME.fullmatch(project.resolve().name) else "project"
    pipeline_file = config.resolve() if config else project.resolve() / "pipeline.yaml"
    try:
        inside = pipeline_file.relative_to(project.resolve())
    except ValueError as exc:
        raise UsageError(
            f"--config {config}: the pipeline file must lie inside the project ({project})",
            hint="every runner reads it from the project's own tree",
        ) from exc
    if not _PATH.fullmatch(inside.as_posix()):
        raise UsageError(
            f"--config {config}: use letters, digits, '.', '_', '-' and '/' in its path",
            hint="the workflow passes the path to Dagger as it is",
        )
    call = "ci --env ci -o reports"
    if inside != Path("pipeline.yaml"):
        call = f"ci --env ci --config {inside.as_posix()} -o reports"
    # (the verdict step reads the exported reports and needs no pipeline file)
    files = {
        pipeline_file: schema_line(module, "pipeline")
        + _template("pipeline.yaml").replace("{name}", name),
        project / ".github" / "workflows" / "ci.yml": _template("ci.yml")
        .replace("{module}", module)
        .replace("ci --env ci -o reports", call),
    }
    existing = [path for path in files if path.exists()]
    if existing and not force:
        raise UsageError(
            "not overwriting " + ", ".join(str(p) for p in existing),
            hint="pass --force to replace them",
        )
    for path, text in files.items():
        atomic.write_text(path, text)
    return Scaffolded(tuple(files), ignore_run_outputs(project))


# What a run writes into a project, never to be committed.
RUN_OUTPUTS = ("reports/", "artifacts/")


def ignore_run_outputs(project: Path) -> tuple[str, ...]:
    """Add the run's output directories to the project's .gitignore; return those added."""
    path = project / ".gitignore"
    if path.is_symlink():
        return ()  # the project's own business where it points: left alone
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    present = {line.strip().strip("/") for line in text.splitlines()}
    missing = tuple(entry for entry in RUN_OUTPUTS if entry.strip("/") not in present)
    if missing:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        atomic.write_text(path, prefix + "".join(f"{entry}\n" for entry in missing))
    return missing
