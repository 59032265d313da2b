"""``pipelines deploy | rollback | promote | status``: one environment's releases."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines import codec
from pipelines.cli.common import project_config, project_dir, project_layout
from pipelines.cli.display import add_row, show
from pipelines.config.deploy import StrategyKind
from pipelines.deploy import abort as abort_request
from pipelines.deploy import operations
from pipelines.deploy.controller import RealClock
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.operations import DeployRequest, Outcome
from pipelines.deploy.status import EnvironmentStatus, environment_status
from pipelines.errors import EXIT_FAILED, EXIT_OK, UsageError

STYLE = {
    DeployStatus.SUCCEEDED: "green",
    DeployStatus.ROLLED_BACK: "bold red",
    DeployStatus.PAUSED: "yellow",
    DeployStatus.RUNNING: "cyan",
    DeployStatus.FAILED: "bold red",
}


def open_env(args: argparse.Namespace) -> DeployEnv:
    """The environment named by ``--env`` of the project named by ``-C``."""
    config = project_config(args)
    denv = DeployEnv.open(
        project_dir(args), config, args.env, project_layout(args, config), os.environ
    )
    denv.check_writable()
    return denv


def _confirm(out: Console, env: str) -> Callable[[str], bool] | None:
    """A terminal prompt, or None off a terminal (then approval must come from CI)."""
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        answer = out.input(f"{question}: ")
        return answer.strip() == env

    return ask


def _log(out: Console) -> Callable[[str], None]:
    def log(line: str) -> None:
        out.print(line, markup=False, highlight=False)

    return log


def deploy(args: argparse.Namespace, out: Console) -> int:
    """Deploy a new release (or resume an interrupted deploy)."""
    denv = open_env(args)
    if args.render:
        return _render(denv, args)
    if args.force and not args.reason:
        raise UsageError("--force needs --reason WHY (it is written to the audit log)")
    request = DeployRequest(
        version=args.version,
        strategy=StrategyKind(args.strategy) if args.strategy else None,
        target=args.target,
        force_reason=args.reason if args.force else None,
        resume=args.resume,
    )
    with _abort_on_sigterm(denv):
        outcome = operations.deploy(
            denv,
            request,
            confirm=_confirm(out, denv.environment.name),
            log=_log(out),
            pid=os.getpid(),
        )
    return _finish(outcome, out, as_json=args.json)


@contextmanager
def _abort_on_sigterm(denv: DeployEnv) -> Iterator[None]:
    """SIGTERM during a deploy is an abort: the controller rolls back at once (traffic on the
    stable release) and the deploy exits 1, as for `pipelines abort`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(_signum: int, _frame: object) -> None:
        abort_request.request_abort(denv.directory, "SIGTERM", f"pid {os.getpid()}")

    previous: Any = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def abort(args: argparse.Namespace, out: Console) -> int:
    """Stop the running (or unfinished) deploy: all traffic back on the stable release."""
    denv = open_env(args)
    reason = args.reason or "abort requested"
    if args.wait <= 0:
        raise UsageError(f"--wait must be above 0, got {args.wait:g}")
    aborted = operations.abort(
        denv, reason, log=_log(out), pid=os.getpid(), wait=args.wait, clock=RealClock()
    )
    if aborted.outcome is not None:
        return _finish(aborted.outcome, out, as_json=args.json)
    if args.json:
        summary = {
            "status": aborted.status.value,
            "deploy": aborted.deploy,
            "reason": aborted.reason,
            "by_controller": aborted.by_controller,
        }
        print(json.dumps(summary))
    else:
        status = Text(aborted.status.value, style=STYLE[aborted.status])
        out.print(Text.assemble(f"{aborted.deploy}: ", status, f" {aborted.reason}".rstrip()))
        if not aborted.ok:
            out.print("the deploy ended before the abort took effect", highlight=False)
    return EXIT_OK if aborted.ok else EXIT_FAILED


def _render(denv: DeployEnv, args: argparse.Namespace) -> int:
    """Print the Kubernetes objects a deploy applies, and deploy nothing."""
    from pipelines.deploy.kubernetes.render import render_environment, to_yaml
    from pipelines.deploy.releases import project_version

    if args.target:
        denv = operations.only_target(denv, args.target)
    strategy = StrategyKind(args.strategy) if args.strategy else None
    objects = render_environment(
        denv.config,
        denv.environment,
        release="next",
        version=args.version or project_version(denv.project) or "0.0.0",
        strategy=strategy,
    )
    if not objects:
        raise UsageError(
            f"environment {denv.environment.name!r} has no kubernetes target: nothing to render",
            hint="--render prints the objects of targets with kind: kubernetes",
        )
    sys.stdout.write(to_yaml(objects))
    return EXIT_OK


def rollback(args: argparse.Namespace, out: Console) -> int:
    """Back to the last release that passed."""
    denv = open_env(args)
    reason = args.reason or "rollback requested"
    outcome = operations.rollback(denv, reason, log=_log(out), pid=os.getpid())
    return _finish(outcome, out, as_json=args.json)


def promote(args: argparse.Namespace, out: Console) -> int:
    """Continue a paused deploy."""
    denv = open_env(args)
    reason = args.reason or "promoted by hand"
    outcome = operations.promote(denv, reason, log=_log(out), pid=os.getpid(), full=args.full)
    return _finish(outcome, out, as_json=args.json)


def restore(args: argparse.Namespace, out: Console) -> int:
    """The recorded stable release and its routing back."""
    denv = open_env(args)
    reason = args.reason or "restore requested"
    outcome = operations.restore(denv, reason, log=_log(out), pid=os.getpid())
    return _finish(outcome, out, as_json=args.json)


def stop(args: argparse.Namespace, out: Console) -> int:
    """Stop the router and every instance of the environment."""
    denv = open_env(args)
    stopped = operations.stop(denv, args.reason or "stop requested", pid=os.getpid())
    if args.json:
        print(json.dumps({"stopped": list(stopped.targets), "notes": list(stopped.notes)}))
    else:
        for note in stopped.notes:
            out.print(f"note: {note}", markup=False, highlight=False)
        targets = ", ".join(stopped.targets)
        out.print(
            f"stopped {targets}; `pipelines restore` brings the stable release back",
            markup=False,
            highlight=False,
        )
    return EXIT_OK


def _finish(outcome: Outcome, out: Console, *, as_json: bool) -> int:
    report = outcome.report
    if as_json:
        summary = {
            "status": report.status.value,
            "deploy": report.deploy,
            "reason": report.reason,
            "evidence": str(outcome.evidence),
            "notes": list(outcome.notes),
        }
        print(json.dumps(summary))
    else:
        for note in outcome.notes:
            out.print(f"note: {note}", markup=False, highlight=False)
        status = Text(report.status.value, style=STYLE[report.status])
        out.print(Text.assemble(f"{report.deploy}: ", status, f" {report.reason}".rstrip()))
        timeline = report.timeline
        if report.rolled_back and timeline.decision and timeline.traffic_on_stable:
            out.print(
                f"traffic back on stable {timeline.traffic_on_stable - timeline.decision:.2f} s "
                "after the decision",
                highlight=False,
            )
        out.print(f"evidence: {outcome.evidence}", markup=False, highlight=False)
    return EXIT_OK if outcome.ok else EXIT_FAILED


def status(args: argparse.Namespace, out: Console) -> int:
    """What runs in an environment and what happened last."""
    denv = open_env(args)
    data = environment_status(denv)
    # Serving below capacity is an answer a script must not miss.
    code = EXIT_FAILED if data.below_capacity else EXIT_OK
    if args.json:
        print(json.dumps(codec.to_builtins(data), indent=2))
        return code
    last = data.last
    table = Table(title=f"{denv.environment.name}: stable {data.stable or 'none'}")
    for column in ("target", "entrypoint", "instance", "release", "traffic"):
        table.add_column(column)
    for name, target in data.targets.items():
        weights = target.weights
        for instance, release in target.running.items():
            total = sum(weights.values())
            share = weights.get(instance)
            traffic = f"{100 * share / total:.0f}%" if share and total else "-"
            add_row(table, name, target.entrypoint, instance, release, traffic)
    show(out, table)
    if last is not None:
        line = f"last deploy {last.id} ({last.version}, {last.strategy}): {last.status}"
        out.print(line, markup=False, highlight=False)
        for name, progress in last.progress.items():
            step = f"  {name}: step {progress.done}/{progress.total}"
            out.print(f"{step} {progress.current or ''}", markup=False, highlight=False)
        if last.reason:
            out.print(f"  reason: {last.reason}", markup=False, highlight=False)
        if last.interrupted:
            out.print(
                "  its controller is gone: `pipelines deploy --resume` or `pipelines rollback`",
                markup=False,
                highlight=False,
            )
    if data.last_operation:
        out.print(f"last operation: {data.last_operation}", markup=False, highlight=False)
    for line in _instance_problems(data):
        out.print(line, markup=False, highlight=False)
    for line in data.below_capacity:
        out.print(f"below capacity: {line}", markup=False, highlight=False)
    out.print(f"state: {denv.directory}", markup=False, highlight=False)
    return code


def _instance_problems(data: EnvironmentStatus) -> list[str]:
    """Instances that get traffic but are dead, hung or failing, one line per target."""
    lines = []
    for name, target in data.targets.items():
        if target.down:
            lines.append(f"{name}: {', '.join(target.down)} get traffic but do not run")
        if target.unhealthy:
            lines.append(
                f"{name}: {', '.join(target.unhealthy)} run and get traffic but do not "
                "answer their health path"
            )
    return lines
