"""``pipelines flags ...`` and ``pipelines audit verify``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.audit import AuditLog
from pipelines.cli.common import project_dir
from pipelines.cli.display import add_row, show
from pipelines.errors import EXIT_FAILED, EXIT_OK
from pipelines.flags.evaluate import as_environment, evaluate
from pipelines.flags.model import FLAGS_FILE, FlagSet, load_flags
from pipelines.flags.store import actor, audit_log, set_flag


def _flags_path(args: argparse.Namespace) -> Path:
    return Path(args.file) if args.file else project_dir(args) / FLAGS_FILE


def _load(args: argparse.Namespace) -> FlagSet:
    return load_flags(_flags_path(args))


def flags(args: argparse.Namespace, out: Console) -> int:
    """Dispatch ``flags list|get|set|export|history``."""
    now = datetime.now(UTC)
    action = args.flags_command
    if action == "list":
        return _list(_load(args), args, out, now)
    if action == "get":
        result = evaluate(_load(args).flag(args.name), args.env, now, args.key)
        if args.json:
            print(json.dumps(result.to_dict()))
        else:
            out.print(f"{result.value}", highlight=False, markup=False)
        return EXIT_OK
    if action == "set":
        change = set_flag(
            _load(args),
            args.name,
            args.env,
            args.value,
            reason=args.reason,
            who=actor(os.environ),
            now=now,
        )
        out.print(
            f"{change.flag} in {change.env}: {change.old} -> {change.new} "
            f"(audit entry {change.entry['seq']})",
            highlight=False,
        )
        return EXIT_OK
    if action == "export":
        for name, value in as_environment(_load(args), args.env, now).items():
            print(f"export {name}={shlex.quote(value)}")
        return EXIT_OK
    return _history(_flags_path(args), args, out)


def _list(loaded: FlagSet, args: argparse.Namespace, out: Console, now: datetime) -> int:
    results = [evaluate(flag, args.env, now) for flag in loaded.flags.values()]
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return EXIT_OK
    table = Table(title=f"flags ({args.env})")
    table.add_column("flag", no_wrap=True)
    for column in ("value", "reason", "rollout", "description"):
        table.add_column(column)
    for flag, result in zip(loaded.flags.values(), results, strict=True):
        percent = "" if result.percent is None else f"{result.percent:.1f}%"
        add_row(table, flag.name, str(result.value), result.reason.value, percent, flag.description)
    show(out, table)
    return EXIT_OK


def _history(path: Path, args: argparse.Namespace, out: Console) -> int:
    entries = [e for e in audit_log(path).entries() if not args.env or e.get("env") == args.env]
    if args.json:
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    table = Table(title=f"flag changes ({args.env or 'all environments'})")
    for column in ("#", "time", "who", "flag", "env", "old", "new", "reason"):
        table.add_column(column)
    for e in entries:
        add_row(
            table,
            str(e["seq"]),
            e["time"],
            e["actor"],
            e["flag"],
            e["env"],
            str(e["old"]),
            str(e["new"]),
            e["reason"],
        )
    show(out, table)
    return EXIT_OK


def audit(args: argparse.Namespace, out: Console) -> int:
    """``pipelines audit verify``: exit 0 when intact, 1 when tampered with."""
    path = Path(args.file) if args.file else project_dir(args) / "flags-audit.jsonl"
    result = AuditLog(path).verify()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.intact:
        out.print(f"{path}: intact ({result.entries} entries)", highlight=False, markup=False)
    else:
        for problem in result.problems:
            out.print(f"[red]{escape(str(path))}:[/] {escape(problem)}", highlight=False)
    return EXIT_OK if result.intact else EXIT_FAILED
