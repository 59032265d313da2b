"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path
from typing import Any, BinaryIO

from pipelines.errors import UsageError

FILE_MODE = 0o644


_SERIAL = itertools.count()


def _temporary(directory: Path, prefix: str) -> tuple[int, str]:
    """A new private file in ``directory`` (never one that exists, never through a link):
    its descriptor and name. What tempfile.mkstemp does, without loading tempfile and random
    into every stage process."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        name = str(directory / f"{prefix}{os.getpid()}.{threading.get_ident()}.{next(_SERIAL)}.tmp")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue  # left by a process of the same id that died: take the next number


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _temporary(path.parent, f".{path.name}.")
    try:
        # mkstemp makes private files; reports and artifacts are for everyone to read.
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, payload: Any) -> None:
    """Write indented, key-sorted JSON atomically, ending with a newline."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def copy_stream(source: BinaryIO, target: Path) -> None:
    """Copy an open file to ``target`` atomically (streaming, so large reports stay cheap;
    the caller chose how it was opened, e.g. without following links)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _temporary(target.parent, f".{target.name}.")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            import shutil  # noqa: PLC0415 - loaded when used: not by a stage's start

            shutil.copyfileobj(source, out, length=1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp_name).replace(target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def writable_dir(path: Path, what: str) -> Path:
    """``path`` as a directory this process can write files in (made if missing), checked
    before any work starts, so nothing is half-done when the results cannot be kept."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = _temporary(path, ".write-check.")
        os.close(fd)
        Path(probe).unlink()
    except OSError as exc:
        raise UsageError(
            f"{path}: {what} cannot be written there ({exc.strerror})",
            hint="make it a writable directory, or choose another place",
        ) from exc
    return path


def remove_report(path: Path) -> None:
    """Remove an earlier report before it is written anew; something in its way that is not a
    file (a directory) is a usage error naming it, never an internal one."""
    try:
        path.unlink(missing_ok=True)
    except IsADirectoryError as exc:
        raise UsageError(
            f"{path}: a report goes here, but this is a directory", hint="remove it"
        ) from exc
    except PermissionError as exc:
        raise UsageError(f"{path}: cannot be removed ({exc.strerror})") from exc
