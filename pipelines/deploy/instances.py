"""The records a runtime keeps of its instances (``instances/<name>.json``), one declared type
per runtime, shared by the writer and every reader: another controller (a resume, a rollback,
``pipelines status``) finds the instances through them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Generic, TypeVar

import msgspec

from pipelines import atomic


class ProcessRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A host process of the local runtime."""

    release: str
    port: int
    pid: int
    argv: list[str] = []
    # The kernel's start time of the process (clock ticks since boot): a pid reused by
    # another process after a reboot or a wrap-around does not match it.
    started: int | None = None


class ContainerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A container of the docker runtime."""

    release: str
    port: int
    container: str


R = TypeVar("R", ProcessRecord, ContainerRecord)


class Records(Generic[R]):
    """One runtime's records under ``directory``."""

    def __init__(self, directory: Path, kind: type[R]) -> None:
        self.directory = directory
        self.kind: type[R] = kind

    def path(self, instance: str) -> Path:
        """The record file of ``instance``."""
        return self.directory / f"{instance}.json"

    def read(self, instance: str) -> R | None:
        """The instance's record; None when it has none or it cannot be read (a record
        that cannot be trusted names no process to signal)."""
        try:
            return msgspec.json.decode(self.path(instance).read_bytes(), type=self.kind)
        except (OSError, msgspec.DecodeError):
            return None

    def write(self, instance: str, record: R) -> None:
        """Record the instance (atomically: a reader sees the old record or the new one)."""
        atomic.write_bytes(self.path(instance), msgspec.json.format(msgspec.json.encode(record)))

    def remove(self, instance: str) -> None:
        """Forget the instance."""
        self.path(instance).unlink(missing_ok=True)

    def all(self) -> Iterator[tuple[str, R]]:
        """Every readable record, by instance name, in name order."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            record = self.read(path.stem)
            if record is not None:
                yield path.stem, record


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
