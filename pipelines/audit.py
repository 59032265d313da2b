"""An append-only, hash-chained audit log (JSON lines) whose tampering can be detected.

Each entry carries the hash of the entry before it and its own hash over its canonical JSON,
so editing or removing an entry breaks the chain. A small head file records the count and
the last hash, so removing entries from the end is detected too.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import atomic
from pipelines.errors import ConfigError

GENESIS = "0" * 64


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 over the entry's canonical JSON, without its own ``hash`` field."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a log: intact, or the problems found (line by line)."""

    path: str
    entries: int
    problems: tuple[str, ...]

    @property
    def intact(self) -> bool:
        """True when nothing was edited, inserted or removed."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Serialise for --json."""
        return {
            "path": self.path,
            "entries": self.entries,
            "intact": self.intact,
            "problems": list(self.problems),
        }


class AuditLog:
    """The log at ``path`` and its head file ``<path>.head``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head = path.with_name(path.name + ".head")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, record: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """Add an entry after the last one; refuses to extend a log that is not intact."""
        with self._locked():
            check = self.verify()
            if not check.intact:
                raise ConfigError(
                    f"{self.path}: the audit log is not intact ({check.problems[0]})",
                    hint="run `pipelines audit verify` and restore the log before changing flags",
                )
            entries = list(self.entries())
            previous = entries[-1]["hash"] if entries else GENESIS
            entry: dict[str, Any] = {
                "seq": len(entries) + 1,
                "time": (now or datetime.now(UTC)).isoformat(),
                **record,
                "prev": previous,
            }
            entry["hash"] = entry_hash(entry)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
                handle.flush()
            atomic.write_json(self.head, {"entries": entry["seq"], "hash": entry["hash"]})
            return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry, in order (lines that are not JSON objects are skipped here)."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict):
                    yield entry

    def verify(self) -> Verification:
        """Check every link of the chain and the head."""
        problems: list[str] = []
        previous, count = GENESIS, 0
        if self.path.exists():
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    problems.append(f"line {number}: not a JSON entry")
                    continue
                count += 1
                if entry.get("seq") != count:
                    problems.append(f"line {number}: entry {entry.get('seq')}, expected {count}")
                if entry.get("prev") != previous:
                    problems.append(f"line {number}: does not follow the entry before it")
                if entry.get("hash") != entry_hash(entry):
                    problems.append(f"line {number}: its content does not match its hash")
                previous = str(entry.get("hash"))
        problems.extend(self._check_head(count, previous))
        return Verification(str(self.path), count, tuple(problems))

    def _check_head(self, count: int, last: str) -> list[str]:
        if not self.head.exists():
            return [] if count == 0 else [f"{self.head}: missing"]
        try:
            head = json.loads(self.head.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return [f"{self.head}: unreadable"]
        if head.get("entries") != count or (count and head.get("hash") != last):
            return [
                f"the log ends at entry {count}, its head says {head.get('entries')}: "
                "entries were removed or added"
            ]
        return []
