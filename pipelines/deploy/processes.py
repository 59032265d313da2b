"""Host processes of the local runtime, known by who they are, not only by their number: a pid
is trusted (and signalled) only while the process still carries the instance's marker in its
environment and started when the record says, so a pid reused by another process after a
crash or a reboot is never killed. Each instance runs in a process group of its own, and
stopping it stops the whole group (a service that forks workers leaves none behind)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

MARKER = "PIPELINES_INSTANCE"


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return text.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has exited; our own child is reaped)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier controller): ask the kernel
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot, field 22 of /proc/PID/stat)."""
    fields = _stat(pid)
    # Fields after the name start at field 3 (state): starttime (22) is index 19.
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def marker_of(pid: int) -> str | None:
    """The instance marker in ``pid``'s environment (the kernel keeps it as it started)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    wanted = f"{MARKER}=".encode()
    for item in environ.split(b"\0"):
        if item.startswith(wanted):
            return item[len(wanted) :].decode("utf-8", "replace")
    return None


def is_instance(pid: int, marker: str, started: int | None) -> bool:
    """``pid`` is the instance the record names: alive, marked, and started when recorded
    (a record without a start time is trusted on its marker alone)."""
    if pid <= 1 or not alive(pid) or marker_of(pid) != marker:
        return False
    return started is None or start_time(pid) == started


def marked_processes(prefix: str) -> list[int]:
    """Processes whose marker starts with ``prefix`` (found whoever started them)."""
    wanted = f"{MARKER}={prefix}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(item.startswith(wanted) for item in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


def group_of(pid: int) -> int | None:
    """``pid``'s process group."""
    fields = _stat(pid)
    return int(fields[2]) if fields is not None else None


def terminate(pids: Iterable[int], grace: float = 5.0) -> None:
    """SIGTERM each process's group (and the process), SIGKILL what is left after
    ``grace`` seconds. Only pass processes whose identity was checked."""
    targets = {pid for pid in pids if alive(pid)}
    own = os.getpgrp()  # never our own group (instances run in sessions of their own)
    groups = {g for pid in targets if (g := group_of(pid)) is not None and g > 1 and g != own}
    _signal(targets, groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in targets) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = {pid for pid in targets if alive(pid)}
    _signal(left, {g for g in groups if any(group_of(p) == g for p in left)}, signal.SIGKILL)


def _signal(pids: set[int], groups: set[int], sig: signal.Signals) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
