"""Did a stage leave the project's tracked files as they were?

A stage checks the source; it must not change it (a formatter that rewrites, a test that edits
a fixture in place): the gate would then judge code nobody committed. The check is cheap: git's
index already knows every tracked file's content hash and stat, so before a stage we stat each
tracked file and hash only those that differ from the index already (a developer's uncommitted
edits); afterwards only files whose stat changed are hashed again and compared.

Where git cannot tell (not a checkout, git missing, or git refusing the directory as owned by
someone else) the check does not go away: every file of the project is hashed instead (what
runs write, caches and virtualenvs left out), and the run says so.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipelines.process import GIT, GIT_ENV
from pipelines.source_tree import project_files

GIT_TIMEOUT = 120.0
SUBMODULE = "160000"
# Every field a write, a rename over, a chmod or a utime changes (ctime cannot be set back).
Stamp = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class SourceSnapshot:
    """The tracked files of a checkout as a stage found them: stat and known content."""

    root: Path
    stamps: dict[str, Stamp | None]
    # Content hash (git's blob id) of every tracked file: the index's, or the file's own
    # where it already differed from the index.
    content: dict[str, str]
    # Why git could not list the tracked files, so every file was hashed; "" when it did.
    without_git: str = ""

    def changed(self) -> list[str]:
        """The tracked files whose content (or existence) differs now, sorted."""
        changed = []
        for path, before in self.stamps.items():
            now = _stamp(self.root / path)
            if now == before:
                continue
            if now is None or before is None or _blob_id(self.root / path) != self.content[path]:
                changed.append(path)
        return sorted(changed)


class _GitFailed(Exception):
    """git could not list the tracked files; the message says why."""


def _git(root: Path, *argv: str) -> bytes:
    try:
        done = subprocess.run(
            [*GIT, "-C", str(root), *argv],
            capture_output=True,
            env={**os.environ, **GIT_ENV},
            timeout=GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise _GitFailed("git is not installed") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _GitFailed(f"git did not run ({exc})") from exc
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise _GitFailed(said[0][:200] if said else f"git exited with {done.returncode}")
    return done.stdout


def _stamp(path: Path) -> Stamp | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _blob_id(path: Path) -> str:
    """The id git gives the file's content (a link's is its target), "" when unreadable."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            data = os.fsencode(path.readlink())
        else:
            # Opened without following a link: a stage may have swapped the file for one.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    return ""
                data = handle.read()
    except OSError:
        return ""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def snapshot(project: Path, outputs: Iterable[Path] = ()) -> SourceSnapshot:
    """The tracked files of ``project`` now; where git cannot list them, every file of it
    (but those under ``outputs``, where runs write)."""
    try:
        # Paths relative to the project, and only its own: it may be a directory of a repo.
        listed = _git(project, "ls-files", "-z", "--stage")
        dirty = _git(project, "diff-files", "-z", "--name-only", "--relative")
    except _GitFailed as exc:
        return content_snapshot(project, outputs, str(exc))
    root = project
    content: dict[str, str] = {}
    for entry in listed.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, blob, _stage = meta.decode().split(" ")
        if mode != SUBMODULE:  # a submodule's own checkout is its business
            content[os.fsdecode(name)] = blob
    stamps = {path: _stamp(root / path) for path in content}
    for name in dirty.split(b"\0"):
        path = os.fsdecode(name)
        if path in content:
            content[path] = _blob_id(root / path)
    return SourceSnapshot(root, stamps, content)


def content_snapshot(project: Path, outputs: Iterable[Path], why: str) -> SourceSnapshot:
    """Every file and link of ``project`` with its content hash, ``why`` git could not say
    which are tracked."""
    skipped = [Path(place).resolve() for place in outputs]
    home = project.resolve()
    content: dict[str, str] = {}
    stamps: dict[str, Stamp | None] = {}
    for relative, path in project_files(project):
        if any((home / relative).is_relative_to(place) for place in skipped):
            continue
        stamps[relative] = _stamp(path)
        content[relative] = _blob_id(path)
    return SourceSnapshot(project, stamps, content, without_git=why or "git cannot say")


def changed_files(before: SourceSnapshot) -> list[str]:
    """The tracked files a stage changed since ``before``."""
    return before.changed()
