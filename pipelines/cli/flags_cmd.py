"""``pipelines flags ...`` and ``pipelines audit verify``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines import codec
from pipelines.actor import actor
from pipelines.artifacts import manifests
from pipelines.audit import DEPLOY_AUDIT, AuditLog, audit_key, verify_against
from pipelines.cli.common import flags_path, project_config, project_layout
from pipelines.cli.display import add_row, show
from pipelines.codec import DamagedFile
from pipelines.deploy.records import DeployManifest
from pipelines.errors import EXIT_FAILED, EXIT_OK, UsageError
from pipelines.flags.evaluate import as_environment, evaluate
from pipelines.flags.model import FlagSet, load_flags
from pipelines.flags.store import audit_log, flag_entry, set_flag


def _load(args: argparse.Namespace) -> FlagSet:
    """The flags file, after checking that the environment named exists in pipeline.yaml."""
    config = project_config(args)
    if getattr(args, "env", None):
        config.environment(args.env)  # unknown: exit 2 with a "did you mean"
    return load_flags(flags_path(args, config))


def flags(args: argparse.Namespace, out: Console) -> int:
    """Dispatch ``flags list|get|set|export|history``."""
    now = datetime.now(UTC)
    action = args.flags_command
    if action == "list":
        return _list(_load(args), args, out, now)
    if action == "get":
        result = evaluate(_load(args).flag(args.name), args.env, now, args.key)
        if args.json:
            print(json.dumps(result._asdict()))
        else:
            out.print(f"{result.value}", highlight=False, markup=False)
        return EXIT_OK
    if action == "set":
        loaded = _load(args)
        log = audit_log(loaded.path, audit_key(os.environ))
        problems = _against_runs(log, project_layout(args, project_config(args)).artifacts)
        if problems:
            raise UsageError(
                f"{log.path}: does not match the history runs recorded ({problems[0]})",
                hint="restore the audit log before changing flags (`pipelines audit verify`)",
            )
        change = set_flag(
            loaded,
            args.name,
            args.env,
            args.value,
            reason=args.reason,
            who=actor(os.environ),
            now=now,
            key=audit_key(os.environ),
        )
        out.print(
            f"{change.flag} in {change.env}: {change.old} -> {change.new} "
            f"(audit entry {change.entry.seq})",
            highlight=False,
            markup=False,
        )
        return EXIT_OK
    if action == "export":
        for name, value in as_environment(_load(args), args.env, now).items():
            print(f"export {name}={shlex.quote(value)}")
        return EXIT_OK
    return _history(_load(args).path, args, out)


def _list(loaded: FlagSet, args: argparse.Namespace, out: Console, now: datetime) -> int:
    results = [evaluate(flag, args.env, now) for flag in loaded.flags.values()]
    if args.json:
        print(json.dumps([r._asdict() for r in results], indent=2))
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
    log = audit_log(path, audit_key(os.environ))
    check = log.verify()  # history that was edited must never read as the truth
    entries = [e for e in log.entries() if not args.env or e.get("env") == args.env]
    if args.json:
        print(json.dumps(entries, indent=2))
        for problem in check.problems:  # the entries stay parseable; the warning goes apart
            print(f"warning: {log.path} is not intact: {problem}", file=sys.stderr)
        return EXIT_OK if check.intact else EXIT_FAILED
    table = Table(title=f"flag changes ({args.env or 'all environments'})")
    for column in ("#", "time", "who", "flag", "env", "old", "new", "reason"):
        table.add_column(column)
    for raw in entries:
        try:
            e = flag_entry(raw, f"{log.path}: entry {raw.get('seq')}")
        except DamagedFile as exc:
            # Shown, not refused: an edited log is read to find out what was done to it (and
            # its hash no longer matches, so the warning below says it cannot be trusted).
            add_row(table, str(raw.get("seq", "?")), "", "", f"(not a flag change: {exc.message})")
            continue
        add_row(table, str(e.seq), e.time, e.actor, e.flag, e.env, str(e.old), str(e.new), e.reason)
    show(out, table)
    if not check.intact:
        out.print(
            f"warning: {log.path} is not intact; these entries cannot be trusted:",
            highlight=False,
            markup=False,
        )
        for problem in check.problems:
            out.print(f"  {problem}", highlight=False, markup=False)
        return EXIT_FAILED
    return EXIT_OK


def _against_runs(log: AuditLog, artifacts: Path) -> list[str]:
    """What the run manifests under ``artifacts`` say about the log (rolled back, replaced)."""
    return verify_against(log.verify(), log.entries(), manifests(artifacts))


def audit(args: argparse.Namespace, out: Console) -> int:
    """``pipelines audit verify``: exit 0 when intact, 1 when tampered with.

    The log is checked link by link, and against the heads that runs recorded in their
    manifests (``--against``, default the project's artifacts/ when it exists).
    """
    config = project_config(args)
    against = Path(args.against) if args.against else project_layout(args, config).artifacts
    if args.against and not against.is_dir():
        raise UsageError(f"{against}: not a directory", hint="pass the artifacts directory")
    if args.deploys:
        log = AuditLog(against / DEPLOY_AUDIT, audit_key(os.environ))
        result = log.verify()
        runs = sorted(against.glob("*/deployment-manifest.json"))
        problems = [*result.problems, *_against_deploys(log, runs)]
    else:
        log = audit_log(flags_path(args, config), audit_key(os.environ))
        result = log.verify()
        runs = manifests(against)
        problems = [*result.problems, *_against_runs(log, against)]
    if args.json:
        # The log's own problems and those found against the manifests (intact follows).
        verified = msgspec.structs.replace(result, problems=tuple(problems))
        print(json.dumps(codec.to_builtins(verified)))
    elif not problems:
        noun = "entry" if result.entries == 1 else "entries"
        kind = "deploy" if args.deploys else "run"
        checked = f"; matches {len(runs)} {kind} manifest(s)" if runs else ""
        out.print(
            f"{log.path}: intact ({result.entries} {noun}{checked})", highlight=False, markup=False
        )
    else:
        for problem in problems:
            out.print(f"[red]{escape(str(log.path))}:[/] {escape(problem)}", highlight=False)
    return EXIT_FAILED if problems else EXIT_OK


def _against_deploys(log: AuditLog, manifests_: list[Path]) -> list[str]:
    """Every deploy's recorded audit entry must still be in the log, unchanged."""
    entries = {entry.get("seq"): entry.get("hash") for entry in log.entries()}
    problems = []
    for path in manifests_:
        try:
            head = codec.read(path, DeployManifest).audit
        except DamagedFile as exc:
            problems.append(f"unreadable: {exc.message}")
            continue
        if head is not None and head.seq is not None and entries.get(head.seq) != head.hash:
            problems.append(f"entry {head.seq} recorded by {path.parent.name} is gone or changed")
    return problems
