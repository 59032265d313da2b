"""One run at a time per project: two runs writing the same reports corrupt each other.

The lock is an advisory lock on ``reports/.run.lock``: the kernel releases it when its holder
dies, so a lock left by a killed run is simply taken over. The file names the holder, so the
second run can say which run it is waiting on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pipelines.errors import UsageError

LOCK_FILE = ".run.lock"


class LockHeld(UsageError):
    """Another process holds the lock (exit 2): what a caller that waits for it looks for."""


@contextlib.contextmanager
def run_lock(reports: Path, description: str) -> Iterator[None]:
    """Hold the project's run lock, or raise a UsageError naming the run that holds it."""
    with held_lock(
        reports / LOCK_FILE,
        description,
        busy="another run is using this project's reports",
        hint="wait for it to finish; a run that died releases the lock by itself",
    ):
        yield


@contextlib.contextmanager
def held_lock(path: Path, description: str, *, busy: str, hint: str) -> Iterator[None]:
    """Hold the advisory lock ``path``, or raise LockHeld (``busy``, naming the holder)."""
    reports = path.parent
    try:
        reports.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
    except FileExistsError as exc:
        raise UsageError(
            f"{reports}: exists and is not a directory", hint="move the file out of the way"
        ) from exc
    except OSError as exc:
        raise UsageError(
            f"{reports}: cannot be written ({exc.strerror})",
            hint="run from a writable checkout (or copy the project somewhere writable)",
        ) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockHeld(f"{reports}: {busy} ({holder})", hint=hint) from exc
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(json.dumps({"pid": os.getpid(), "started": started, "run": description}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
