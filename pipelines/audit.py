"""An append-only, hash-chained audit log (JSON lines) whose tampering can be detected.

Each entry carries the hash of the entry before it and its own hash over its canonical JSON,
so editing or removing an entry breaks the chain. A small head file records the count and
the last hash, so removing entries from the end is detected too.

A chain alone can be rebuilt by anyone who can write the file. Two things make tampering
evident where it counts: with ``PIPELINES_AUDIT_KEY`` set (a secret of the CI system), every
entry is an HMAC-SHA256 that only key holders can make; and every run records the head in its
run manifest (and as a metric), so a log rolled back, replaced or deleted no longer matches the
history kept elsewhere (``verify_against``).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from pipelines import atomic, codec
from pipelines.codec import DamagedFile
from pipelines.errors import ConfigError

GENESIS = "0" * 64
KEY_VARIABLE = "PIPELINES_AUDIT_KEY"


# The deploy decisions' log, in artifacts/ beside the deploy evidence.
DEPLOY_AUDIT = "deploy-audit.jsonl"


class DeployAuditEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True,
                       tag_field="kind", tag="deploy"):  # fmt: skip
    """A deploy decision as the deploy audit log holds it (the log adds seq, time, prev and
    hash). Fields left at their defaults are not written, so entries stay as short as the
    decision they record."""

    action: str  # force, approve, deploy-finished, rollback, promote, abort, ...
    env: str
    actor: str
    reason: str | None = None
    deploy: str | None = None
    release: str | None = None
    version: str | None = None
    outcome: str | None = None
    by: str | None = None  # an approval: who
    via: str | None = None  # ci or terminal
    run: str | None = None  # the CI run that carried it
    commit: str | None = None  # what a forced deploy went out with
    tree: str | None = None
    dirty: bool | None = None
    damaged: str | None = None  # the audit log's damage an emergency action went past
    drill_passed: bool | None = None


def audit_key(environ: Mapping[str, str]) -> bytes | None:
    """The signing key from the environment, if one is set."""
    value = environ.get(KEY_VARIABLE, "")
    return value.encode("utf-8") if value else None


def entry_hash(entry: Mapping[str, Any], key: bytes | None = None) -> str:
    """SHA-256 (or, with a key, HMAC-SHA256) over the entry's canonical JSON, without its
    own ``hash`` field."""
    body = {name: value for name, value in entry.items() if name != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if key is not None:
        return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Head(msgspec.Struct, frozen=True):
    """Where a log ends: how many entries, and the hash of the last one (the head file)."""

    entries: int
    hash: str


class RecordedHead(msgspec.Struct, frozen=True):
    """A log's head as a run manifest records it, with the log it belongs to."""

    entries: int
    hash: str
    log: str = ""


class RunAudit(msgspec.Struct, frozen=True, omit_defaults=True):
    """The heads of the audit logs a run manifest records (``audit``)."""

    flags: RecordedHead | None = None


class _ManifestAudit(msgspec.Struct):
    """The part of a run manifest that concerns the audit logs."""

    audit: RunAudit = RunAudit()


class Verification(msgspec.Struct, frozen=True):
    """The outcome of checking a log: intact (nothing was edited, inserted or removed), or
    the problems found (line by line)."""

    path: str
    entries: int
    problems: tuple[str, ...]
    head: Head = Head(0, GENESIS)
    intact: bool = True

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "intact", not self.problems)


@dataclass
class _State:
    """One reading of the log: its entries and what is wrong with them."""

    entries: list[dict[str, Any]]
    problems: list[str]

    @property
    def head(self) -> Head:
        return Head(len(self.entries), self.entries[-1]["hash"] if self.entries else GENESIS)


class AuditLog:
    """The log at ``path`` and its head file ``<path>.head``."""

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        self.path = path
        self.key = key
        self.head_path = path.with_name(path.name + ".head")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Hold the log's lock; the log is read once and must be intact to be extended."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time
            try:
                state = self._read()
                if state.problems:
                    raise ConfigError(
                        f"{self.path}: the audit log is not intact ({state.problems[0]})",
                        hint="run `pipelines audit verify` and restore the log before changing",
                    )
                yield Transaction(self, state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, record: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """Add an entry after the last one; refuses to extend a log that is not intact."""
        with self.transaction() as transaction:
            return transaction.append(record, now)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry that is a JSON object, in order (verify() says what else is there)."""
        return self._read().entries

    def verify(self) -> Verification:
        """Check every link of the chain, every signature and the head."""
        state = self._read()
        return Verification(str(self.path), len(state.entries), tuple(state.problems), state.head)

    def _read(self) -> _State:
        entries: list[dict[str, Any]] = []
        problems: list[str] = []
        previous = GENESIS
        if self.path.exists():
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        entry = None
                    if not isinstance(entry, dict):
                        problems.append(f"line {number}: not a JSON object")
                        continue
                    entries.append(entry)
                    problems.extend(self._check(entry, number, len(entries), previous))
                    previous = str(entry.get("hash"))
        problems.extend(self._check_head(len(entries), previous))
        return _State(entries, problems)

    def _check(self, entry: Mapping[str, Any], number: int, seq: int, previous: str) -> list[str]:
        problems = []
        if entry.get("seq") != seq:
            problems.append(f"line {number}: entry {entry.get('seq')}, expected {seq}")
        if entry.get("prev") != previous:
            problems.append(f"line {number}: does not follow the entry before it")
        signed = entry.get("signed") is True
        if signed and self.key is None:
            problems.append(f"line {number}: signed entry; set {KEY_VARIABLE} to verify it")
        elif self.key is not None and not signed:
            problems.append(f"line {number}: not signed, but {KEY_VARIABLE} is set")
        elif entry.get("hash") != entry_hash(entry, self.key if signed else None):
            problems.append(f"line {number}: its content does not match its hash")
        return problems

    def _check_head(self, count: int, last: str) -> list[str]:
        if not self.head_path.exists():
            return [] if count == 0 else [f"{self.head_path}: missing"]
        try:
            data = self.head_path.read_bytes()
        except OSError:
            return [f"{self.head_path}: unreadable"]
        try:
            head = codec.decode(data, Head, str(self.head_path))
        except DamagedFile as exc:
            return [f"not a head record: {exc.message}"]
        if head.entries != count or (count and head.hash != last):
            return [
                f"the log ends at entry {count}, its head says {head.entries}: "
                "entries were removed or added"
            ]
        return []


class Transaction:
    """Appends to a locked, verified log."""

    def __init__(self, log: AuditLog, state: _State) -> None:
        self.log, self.state = log, state

    def append(self, record: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """Write one entry and the new head."""
        previous = self.state.head.hash
        entry: dict[str, Any] = {
            "seq": len(self.state.entries) + 1,
            "time": (now or datetime.now(UTC)).isoformat(),
            **record,
            "prev": previous,
        }
        if self.log.key is not None:
            entry["signed"] = True
        entry["hash"] = entry_hash(entry, self.log.key)
        with self.log.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
            handle.flush()
        self.state.entries.append(entry)
        atomic.write_json(self.log.head_path, msgspec.to_builtins(self.state.head))
        return entry


def verify_against(
    verification: Verification, entries: Iterable[Mapping[str, Any]], manifests: Iterable[Path]
) -> list[str]:
    """Problems found by comparing a log with the heads that run manifests recorded: a log
    that is shorter than a recorded head, or whose entry at a recorded head has another hash,
    was rolled back, replaced or deleted."""
    by_seq = {entry.get("seq"): entry.get("hash") for entry in entries}
    problems = []
    for manifest in manifests:
        try:
            head = codec.read(manifest, _ManifestAudit).audit.flags
        except DamagedFile:
            head = None
        if head is None:
            continue  # a run that recorded no readable audit head says nothing about the log
        count, last = head.entries, head.hash
        if count > verification.entries:
            problems.append(
                f"{manifest}: recorded {count} entries; the log has {verification.entries} "
                "(rolled back or deleted)"
            )
        elif count and by_seq.get(count) != last:
            problems.append(
                f"{manifest}: entry {count} differs from the one it recorded (replaced)"
            )
    return problems
