"""What a gate decision judged and what a deploy ships: the commit, a digest of the project's
files as they are, and whether they differ from what the commit holds. The gate records it,
a deploy compares it, so a decision never opens the way for another tree than it judged.

The digest is computed from the files themselves (not from git), so a gate that ran in a
container without ``.git`` and a deploy on the host agree. Symbolic links are digested as
links (their target is never followed); what runs write (reports, artifacts, caches,
virtualenvs) is left out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import msgspec

from pipelines.errors import ToolError
from pipelines.process import GIT, GIT_ENV, run_tool

# Written by runs and tools, not part of what is judged or shipped.
OUTPUTS = frozenset({"reports", "artifacts"})  # at the top of the project only
SKIPPED = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".coverage",
        "node_modules",
    }
)


def find_commit(project: Path, environ: Mapping[str, str]) -> str:
    """The commit under test: CI variables first, then git, else 'unknown'."""
    for name in ("GITHUB_SHA", "CI_COMMIT_SHA", "PIPELINES_COMMIT"):
        if environ.get(name):
            return environ[name]
    try:
        done = run_tool([*GIT, "rev-parse", "HEAD"], cwd=project, timeout=10, env=GIT_ENV)
    except ToolError:  # git missing or hung: the run is still recorded
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


class TreeState(msgspec.Struct, frozen=True, kw_only=True):
    """The commit, the digest of the files, and whether they hold uncommitted changes
    (None: not known, the project is not a git checkout here)."""

    commit: str
    tree: str
    dirty: bool | None = None


def project_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every file and link under ``root`` by its relative path, in a stable order: what is
    judged and shipped, without what runs and tools write."""
    for directory, dirs, files in os.walk(root, followlinks=False):
        here = Path(directory)
        top = here == root
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED
            and not d.endswith(".egg-info")
            and not (top and d in OUTPUTS)
            # A link to a directory is digested as a link, never walked into.
            and not (here / d).is_symlink()
        )
        for entry in sorted(here.iterdir()):
            if entry.is_symlink() and entry.name not in files:
                yield entry.relative_to(root).as_posix(), entry
        for name in sorted(files):
            if name in SKIPPED or name.endswith((".pyc", ".pyo")):
                continue
            yield (here / name).relative_to(root).as_posix(), here / name


def tree_digest(root: Path) -> str:
    """sha256 over every file's relative path and content (a link: its target text)."""
    digest = hashlib.sha256()
    for relative, path in sorted(project_files(root)):
        if path.is_symlink():
            body = b"link:" + str(path.readlink()).encode("utf-8", "surrogateescape")
        elif path.is_file():
            body = hashlib.sha256(path.read_bytes()).hexdigest().encode()
        else:
            continue  # sockets, fifos: nothing a release ships
        digest.update(relative.encode("utf-8", "surrogateescape") + b"\0" + body + b"\0")
    return digest.hexdigest()


def _dirty(project: Path) -> bool | None:
    try:
        done = run_tool(
            [*GIT, "status", "--porcelain", "--", "."], cwd=project, timeout=30, env=GIT_ENV
        )
    except ToolError:
        return None
    if done.returncode != 0:
        return None  # not a git checkout
    return bool(done.stdout.strip())


def tree_state(project: Path, environ: Mapping[str, str]) -> TreeState:
    """The project as it is now."""
    return TreeState(
        commit=find_commit(project, environ), tree=tree_digest(project), dirty=_dirty(project)
    )
