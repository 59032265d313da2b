"""Paths a stage could have written, handled without ever following a symbolic link.

A stage (code under test, in a container or on the host) may leave a link where the host later
reads, copies, writes or removes a file: ``reports/test/junit.xml -> ~/.ssh/id_rsa`` would copy
a host secret into the run's artifacts, ``reports/lint/log.txt -> ~/.bashrc`` would have the
host overwrite it. So every such path is walked from a trusted root one component at a time
with ``O_NOFOLLOW`` and ``dir_fd``: a link anywhere below the root is refused (or, for what the
host itself writes, removed), never followed. A root the project chose never leads out of it
(``Layout.chosen``); one given on the command line is the caller's choice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import BinaryIO

from pipelines.errors import UsageError

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_MODE = 0o644


class Refused(OSError):
    """A path below a root is not a plain file or directory there (a link, a device, ...)."""


def _parts(relative: PurePath | str) -> tuple[str, ...]:
    parts = PurePath(relative).parts
    if not parts or PurePath(relative).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise Refused(errno.EINVAL, "not a plain path below its root", str(relative))
    return parts


def _open_dir(name: str, parent: int, *, create: bool) -> int:
    try:
        return os.open(name, DIRECTORY, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as exc:
        # ELOOP: a link; ENOTDIR: a file. Only what the host writes may clear a link away.
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        # O_DIRECTORY with O_NOFOLLOW reports a link as "not a directory": look.
        link = stat.S_ISLNK(os.lstat(name, dir_fd=parent).st_mode)
        if not create or not link:
            what = "a symbolic link" if link else "not a directory"
            raise Refused(exc.errno, f"{name} on the way is {what}", name) from exc
        os.unlink(name, dir_fd=parent)
    with contextlib.suppress(FileExistsError):  # made meanwhile by a stage: opened below
        os.mkdir(name, 0o755, dir_fd=parent)
    return os.open(name, DIRECTORY, dir_fd=parent)


@contextlib.contextmanager
def directory_beneath(root: Path, parts: tuple[str, ...], *, create: bool) -> Iterator[int]:
    """A descriptor of ``root/parts...`` reached through directories only; with ``create``,
    missing directories are made and links in the way are removed (never followed)."""
    if create:
        root.mkdir(parents=True, exist_ok=True)
    current = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            following = _open_dir(part, current, create=create)
            os.close(current)
            current = following
        yield current
    finally:
        os.close(current)


def ensure_directory(root: Path, relative: PurePath | str) -> Path:
    """Make ``root/relative`` a real directory (a link in its place is removed)."""
    with directory_beneath(root, _parts(relative), create=True):
        return root / relative


@contextlib.contextmanager
def open_regular(root: Path, relative: PurePath | str) -> Iterator[BinaryIO]:
    """``root/relative`` opened for reading, when it is a regular file reached without links;
    otherwise Refused (or FileNotFoundError when it is not there)."""
    *dirs, name = _parts(relative)
    with directory_beneath(root, tuple(dirs), create=False) as parent:
        try:
            # O_NONBLOCK: a FIFO planted here must not hang the host; regular files ignore it.
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Refused(exc.errno, "is a symbolic link", str(root / relative)) from exc
            raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused(errno.EINVAL, "is not a regular file", str(root / relative))
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as handle:
        yield handle


def read_regular(root: Path, relative: PurePath | str, *, limit: int) -> bytes | None:
    """At most ``limit`` bytes of ``root/relative``; None when it is missing, a link, or not
    a regular file (an unreadable report is absent, never a host file)."""
    try:
        with open_regular(root, relative) as handle:
            return handle.read(limit)
    except OSError:
        return None


def is_regular(root: Path, relative: PurePath | str) -> bool:
    """True when ``root/relative`` is a regular file reached without following a link."""
    try:
        with open_regular(root, relative):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def write_new(root: Path, relative: PurePath | str) -> Iterator[BinaryIO]:
    """``root/relative`` opened for writing from empty; a link (or anything) in its place or
    in its directories is removed first, so the host never writes through one."""
    *dirs, name = _parts(relative)
    with directory_beneath(root, tuple(dirs), create=True) as parent:
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode):
                os.unlink(name, dir_fd=parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, FILE_MODE, dir_fd=parent)
    with os.fdopen(fd, "wb") as handle:
        yield handle


def remove_beneath(root: Path, relative: PurePath | str) -> None:
    """Remove the entry ``root/relative`` (a file or a link, never what a link points to);
    nothing happens when a directory on the way is missing or is a link."""
    *dirs, name = _parts(relative)
    try:
        with directory_beneath(root, tuple(dirs), create=False) as parent:
            if stat.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode):
                raise IsADirectoryError(errno.EISDIR, "a directory", str(root / relative))
            os.unlink(name, dir_fd=parent)
    except (FileNotFoundError, Refused):
        return


def clear_report(root: Path, relative: PurePath | str) -> None:
    """Remove an earlier report before it is written anew (never through a link); a directory
    in its way is a usage error naming it, never an internal one."""
    where = root / relative
    try:
        remove_beneath(root, relative)
    except IsADirectoryError as exc:
        raise UsageError(
            f"{where}: a report goes here, but this is a directory", hint="remove it"
        ) from exc
    except PermissionError as exc:
        raise UsageError(f"{where}: cannot be removed ({exc.strerror})") from exc
