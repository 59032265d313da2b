"""Running external tools: argv lists only, with their failures translated to our errors."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from pipelines.child_env import SDK_SECRETS
from pipelines.errors import ToolError
from pipelines.layout import ARTIFACTS_ENV, REPORTS_ENV

RUNNER_ONLY = (REPORTS_ENV, ARTIFACTS_ENV)
# git run by the host in a checkout the code under test could have written (a stage that
# may write the tree, a checkout from elsewhere): its .git/config and hooks name commands
# git would run here, with our whole environment. These turn off the ones that reading
# commands (ls-files, diff-files, status, rev-parse, show) would run, and keep git from
# writing the index (which runs the post-index-change hook).
GIT = ("git", "-c", "core.fsmonitor=false", "-c", f"core.hooksPath={os.devnull}")
GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0"}


def command_line(argv: Sequence[str], *, why: str = "") -> str:
    """``$ argv`` quoted so that it can be pasted into a shell; ``why`` follows as a shell
    comment."""
    return "$ " + shlex.join(argv) + (f"  # {why}" if why else "")


def show_command(argv: Sequence[str], *, why: str = "") -> None:
    """Write the command about to run to the log (standard output, where every stage's
    output goes), as ``command_line`` spells it."""
    print(command_line(argv, why=why), flush=True)


class ToolNotFound(ToolError):
    """The tool is not installed (not on PATH)."""


class ToolTimeout(ToolError):
    """The tool ran longer than it was allowed to."""


class Completed(msgspec.Struct, frozen=True):
    """What a finished tool left behind."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    def last_line(self) -> str:
        """The last non-empty line of stderr (or stdout): usually the tool's own explanation."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1][:300]
        return f"exit code {self.returncode}"


def tool_path(path: str) -> str:
    """PATH with this interpreter's directory first, so tools of its virtualenv are found."""
    bin_dir = str(Path(sys.executable).parent)
    return os.pathsep.join([bin_dir, path])


def _merged_env(env: Mapping[str, str] | None, *, inherit: bool = True) -> dict[str, str]:
    merged = {**(os.environ if inherit else {}), **(env or {})}
    # Read in this process only: no tool, stage command or installer is given them, however
    # this process was started (a runner's stage, or `pipelines stage` in a CI step).
    for secret in SDK_SECRETS:
        merged.pop(secret, None)
    merged["PATH"] = tool_path(merged.get("PATH", os.defpath))
    # Where this run's reports go is for this stage alone: a tool that runs pipelines itself
    # (a project's own tests of a pipeline) must not write into this run.
    for variable in RUNNER_ONLY:
        merged.pop(variable, None)
    return merged


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Kill a process started in its own process group and everything it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# How long kill_session keeps looking for processes that were being forked while it killed.
KILL_SETTLE_SECONDS = 5.0


def kill_session(leader: int) -> None:
    """Kill every process of the session ``leader`` started, and every descendant of it: a
    stage and all its tools, even those in process groups or sessions of their own.

    Killed in rounds until none is left alive: a child forked between one look at /proc and
    its parent's death is not in that look, and would otherwise outlive its stage."""
    deadline = time.monotonic() + KILL_SETTLE_SECONDS
    # Looked at before the first kill: once a parent dies its children are re-parented, and
    # only this first look still finds a descendant that left the session. Each process is
    # known by its id and start time, so an id the system reuses is never killed.
    known = _identities({leader, *_session_members(leader), *_descendants(leader)})
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)
    while True:
        alive = {pid for pid, started in known.items() if _started(pid) == started}
        known.update(_identities(_session_members(leader) | _descendants_of(alive)))
        doomed = {pid for pid, started in known.items() if _started(pid) == started}
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if not doomed or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def _identities(pids: set[int]) -> dict[int, str]:
    found = {pid: _started(pid) for pid in pids}
    return {pid: started for pid, started in found.items() if started}


def _started(pid: int) -> str:
    """The start time of a live process ("" when it is gone or a zombie, dead already)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return ""
    return fields[19]  # field 22 of stat (starttime); fields[0] is field 3


def _processes() -> dict[int, int]:
    """Every process id with its parent's (nothing where /proc is missing)."""
    parents: dict[int, int] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return parents
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name (in parentheses) may hold spaces: the fields after it are fixed.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
    return parents


def _descendants(leader: int) -> set[int]:
    return _descendants_of({leader})


def _descendants_of(roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in _processes().items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    pending = list(roots)
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def _session_members(leader: int) -> set[int]:
    members = set()
    for pid in _processes():
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if os.getsid(pid) == leader:
                members.add(pid)
    return members


def _start(argv: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    try:
        # A process group of its own, in the stage's session: a tool's timeout ends the tool's
        # children, and a stage's end (kill_session) ends the tool.
        return subprocess.Popen(list(argv), process_group=0, **options)
    except FileNotFoundError as exc:
        raise ToolNotFound(
            f"{argv[0]}: not found on PATH",
            hint=f"install it (pip install {argv[0]}) or use the toolchain image",
        ) from exc


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
) -> Completed:
    """Run ``argv`` in ``cwd``; without ``capture`` its output goes straight to ours."""
    started = time.monotonic()
    pipe = subprocess.PIPE if capture else None
    proc = _start(
        argv,
        cwd=cwd,
        env=_merged_env(env),
        stdout=pipe,
        stderr=pipe,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        kill_group(proc)
        proc.communicate()
        raise ToolTimeout(f"{argv[0]}: still running after {timeout:g} s, stopped") from exc
    except BaseException:
        kill_group(proc)
        raise
    return Completed(
        tuple(argv),
        proc.returncode,
        stdout or "",
        stderr or "",
        time.monotonic() - started,
    )


def run_streaming(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    keep_lines: int = 400,
    output: BinaryIO | None = None,
    inherit: bool = True,
) -> Completed:
    """Run ``argv`` with its output passed straight through to ``output`` (default: ours,
    the stage log) as it comes, keeping its last lines to explain a failure. stderr is
    merged into stdout.

    It has no timeout of its own: the runner's stage timeout ends the stage's whole session.
    Without ``inherit``, ``env`` is the whole environment (none of ours is added).
    """
    started = time.monotonic()
    proc = _start(
        argv,
        cwd=cwd,
        env=_merged_env(env, inherit=inherit),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    tail: deque[bytes] = deque(maxlen=keep_lines)
    out = output or sys.stdout.buffer
    try:
        for line in proc.stdout or ():
            out.write(line)
            out.flush()
            tail.append(line)
        proc.wait()
    except BaseException:
        kill_group(proc)
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    text = b"".join(tail).decode("utf-8", errors="replace")
    return Completed(tuple(argv), proc.returncode, text, "", time.monotonic() - started)
