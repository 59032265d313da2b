"""``pipelines run -v``: each running stage's tool output, live, one line at a time with the
stage's name in front (as nox and tox stream a session's output).

The log files lie in directories a stage can write, so a log is opened without following a
symbolic link, and what is printed is only text: control characters (terminal escapes
included) become ``?`` and a line that could pass for a CI workflow command is quoted."""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from pipelines.report.workflow_commands import neutralise

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
CHUNK = 64 * 1024


class LogTail:
    """The part of one log not printed yet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.inode: int | None = None
        self.offset = 0
        self.pending = b""

    def read(self) -> list[str]:
        """The complete lines written since the last read."""
        try:
            seen = self.path.lstat()
        except OSError:
            return []
        if self.fd is None or seen.st_ino != self.inode or seen.st_size < self.offset:
            self.close()  # a new run's log, or the same file started over
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                return []
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):  # a FIFO or a directory put in its place
                os.close(fd)
                return []
            self.fd, self.inode, self.offset, self.pending = fd, opened.st_ino, 0, b""
        try:
            data = os.pread(self.fd, CHUNK, self.offset)
        except OSError:  # the file went bad under us: nothing more to show from it
            self.close()
            return []
        self.offset += len(data)
        *lines, self.pending = (self.pending + data).split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]

    def rest(self) -> list[str]:
        """Everything left, the unfinished last line included."""
        lines = self.read()
        while chunk := self.read():
            lines += chunk
        if self.pending:
            lines.append(self.pending.decode("utf-8", "replace"))
            self.pending = b""
        return lines

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def printable(line: str) -> str:
    """A tool's line as plain text: no control character, no workflow command."""
    return neutralise(CONTROL.sub("?", line.rstrip("\r")))


class LogFollower:
    """Prints the logs of the stages it is told are running, until it is stopped."""

    def __init__(self, console: Console, logs: Mapping[str, Path], interval: float = 0.2) -> None:
        self.console = console
        self.logs = dict(logs)
        self.interval = interval
        self.tails: dict[str, LogTail] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="follow", daemon=True)
        self.width = max((len(name) for name in self.logs), default=0)

    def follow(self, stage: str) -> None:
        """Start printing ``stage``'s log (it is running)."""
        with self.lock:
            if stage in self.logs and stage not in self.tails:
                self.tails[stage] = LogTail(self.logs[stage])

    def finish(self, stage: str) -> None:
        """Print what is left of ``stage``'s log and stop following it."""
        with self.lock:
            tail = self.tails.pop(stage, None)
            if tail is not None:
                self._print(stage, tail.rest())
                tail.close()

    def __enter__(self) -> LogFollower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()
        for stage in list(self.tails):
            self.finish(stage)

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.lock:
                for stage, tail in self.tails.items():
                    self._print(stage, tail.read())

    def _print(self, stage: str, lines: list[str]) -> None:
        for line in lines:
            self.console.print(
                f"{stage:<{self.width}} | {printable(line)}", markup=False, highlight=False
            )
