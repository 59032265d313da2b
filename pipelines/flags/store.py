"""Changing a flag: validate, write flags.yaml atomically, record who, when, what and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from pipelines import atomic, codec
from pipelines.audit import AuditLog
from pipelines.errors import UsageError
from pipelines.flags.model import FlagSet, FlagValue, parse_value

AUDIT_FILE = "flags-audit.jsonl"


def audit_log(flags_path: Path, key: bytes | None = None) -> AuditLog:
    """The audit log kept beside a flags file (signed with ``key`` when given)."""
    return AuditLog(flags_path.with_name(AUDIT_FILE), key)


class FlagChange(msgspec.Struct, frozen=True, kw_only=True):
    """A flag change as its audit entry records it: who set which flag where, from what to
    what, and why."""

    actor: str
    flag: str
    env: str
    old: FlagValue | None
    new: FlagValue
    reason: str


class FlagEntry(FlagChange, frozen=True, kw_only=True):
    """An entry of the flags audit log: the change and what the log adds (its place in the
    chain; the chain itself is checked over the entry as written, ``AuditLog.verify``)."""

    seq: int
    time: str  # ISO 8601
    prev: str
    hash: str
    signed: bool = False


def flag_entry(entry: Mapping[str, object], where: str) -> FlagEntry:
    """An entry of the flags audit log as its declared type (DamagedFile naming ``where``)."""
    return codec.convert(entry, FlagEntry, where, hint="run `pipelines audit verify`")


@dataclass(frozen=True)
class Change:
    """A recorded flag change."""

    flag: str
    env: str
    old: FlagValue | None
    new: FlagValue
    entry: FlagEntry


def set_flag(
    flags: FlagSet,
    name: str,
    env: str,
    text: str,
    *,
    reason: str,
    who: str,
    now: datetime,
    key: bytes | None = None,
) -> Change:
    """Set ``name`` to ``text`` in ``env``: the file write and its audit entry are one
    transaction under the log's lock, so no change is ever left without its entry."""
    if not reason.strip():
        raise UsageError("a flag change needs a reason", hint='pass --reason "why"')
    flag = flags.flag(name)
    new = parse_value(flag, text)
    current = flag.environments.get(env)
    old = current.value if current else None
    record = FlagChange(actor=who, flag=name, env=env, old=old, new=new, reason=reason.strip())
    with audit_log(flags.path, key).transaction() as transaction:
        original = flags.path.read_text(encoding="utf-8")
        # ruamel.yaml (which keeps the file's comments) loads only to write a change.
        from pipelines.flags.edit import updated_text  # noqa: PLC0415

        atomic.write_text(flags.path, updated_text(original, flags.path, name, env, new))
        try:
            written = transaction.append(msgspec.to_builtins(record), now=now)
        except OSError as exc:
            atomic.write_text(flags.path, original)  # no entry, no change
            raise UsageError(
                f"{exc.filename or transaction.log.path}: cannot record the change "
                f"({exc.strerror}); {flags.path} is unchanged",
                hint="make the audit log writable",
            ) from exc
        except BaseException:
            atomic.write_text(flags.path, original)
            raise
    return Change(name, env, old, new, flag_entry(written, str(transaction.log.path)))
