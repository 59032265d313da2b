"""Changing a flag: validate, write flags.yaml atomically, record who, when, what and why."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.audit import AuditLog
from pipelines.errors import UsageError
from pipelines.flags.model import FlagSet, FlagValue, parse_value, save_value

AUDIT_FILE = "flags-audit.jsonl"


def audit_log(flags_path: Path) -> AuditLog:
    """The audit log kept beside a flags file."""
    return AuditLog(flags_path.with_name(AUDIT_FILE))


def actor(environ: Mapping[str, str]) -> str:
    """Who is making a change: PIPELINES_ACTOR, the CI user, or the login name."""
    for name in ("PIPELINES_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN"):
        if environ.get(name):
            return environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class Change:
    """A recorded flag change."""

    flag: str
    env: str
    old: FlagValue | None
    new: FlagValue
    entry: Mapping[str, Any]


def set_flag(
    flags: FlagSet,
    name: str,
    env: str,
    text: str,
    *,
    reason: str,
    who: str,
    now: datetime,
) -> Change:
    """Set ``name`` to ``text`` in ``env``; nothing is written when anything is wrong."""
    if not reason.strip():
        raise UsageError("a flag change needs a reason", hint='pass --reason "why"')
    flag = flags.flag(name)
    new = parse_value(flag, text)
    current = flag.environments.get(env)
    old = current.value if current else None
    log = audit_log(flags.path)
    check = log.verify()
    if not check.intact:
        raise UsageError(
            f"{log.path}: the audit log is not intact ({check.problems[0]})",
            hint="run `pipelines audit verify` and restore the log first",
        )
    save_value(flags, name, env, new)
    entry = log.append(
        {"actor": who, "flag": name, "env": env, "old": old, "new": new, "reason": reason.strip()},
        now=now,
    )
    return Change(name, env, old, new, entry)
