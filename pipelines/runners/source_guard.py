"""Did a stage leave the project's tracked files as they were?

A stage checks the source; it must not change it (a formatter that rewrites, a test that edits
a fixture in place): the gate would then judge code nobody committed. The check is cheap: git's
index already knows every tracked file's content hash and stat, so before a stage we stat each
tracked file and hash only those that differ from the index already (a developer's uncommitted
edits); afterwards only files whose stat changed are hashed again and compared.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

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


def _git(root: Path, *argv: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *argv],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


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


def snapshot(project: Path) -> SourceSnapshot | None:
    """The tracked files of ``project`` now; None when it is not a git checkout (nothing is
    tracked, so nothing can be compared)."""
    # Paths relative to the project, and only its own: it may be a directory of a larger repo.
    listed = _git(project, "ls-files", "-z", "--stage")
    dirty = _git(project, "diff-files", "-z", "--name-only", "--relative")
    if listed is None or dirty is None:
        return None
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


def changed_files(before: SourceSnapshot | None) -> list[str]:
    """The tracked files a stage changed since ``before`` (nothing without a snapshot)."""
    return before.changed() if before is not None else []
