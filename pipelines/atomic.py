"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from pipelines.errors import UsageError

FILE_MODE = 0o644


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
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
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=path)
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
