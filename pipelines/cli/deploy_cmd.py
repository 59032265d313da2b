"""``pipelines deploy | rollback | promote | status``: one environment's releases."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines.artifacts import find_commit
from pipelines.cli.common import project_config, project_dir, project_layout
from pipelines.cli.display import add_row, show
from pipelines.deploy.controller import DeployReport
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.outcome import record
from pipelines.deploy.settings import StrategyKind
from pipelines.deploy.status import environment_status
from pipelines.deploy.target import Release
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


def deploy(args: argparse.Namespace, out: Console) -> int:
    """Deploy a new release (or resume an interrupted deploy)."""
    denv = open_env(args)
    strategy = StrategyKind(args.strategy) if args.strategy else denv.environment.deploy.strategy
    if args.target:
        denv = _only_target(denv, args.target)
    if args.render:
        return _render(denv, strategy, args.version)
    if args.force and not args.reason:
        raise UsageError("--force needs --reason WHY (it is written to the audit log)")

    def log(line: str) -> None:
        out.print(line, markup=False, highlight=False)

    with denv.journal.lock(f"deploy of {denv.environment.name} by pid {os.getpid()}"):
        if args.resume:
            report = denv.controller(log=log).resume()
            return _finish(denv, report, "resume", out, as_json=args.json)
        if args.force:
            gate: dict[str, Any] = {"forced": True, "reason": args.reason}
            denv.audit("force", reason=args.reason)
        else:
            gate = denv.gate_decision()
        approval = denv.approval(_confirm(out, denv.environment.name))
        if approval.get("required"):
            denv.audit("approve", **{k: v for k, v in approval.items() if k != "required"})
        commit = find_commit(denv.project, denv.environ)
        release = denv.new_release(args.version, commit)
        log(f"deploying {release.version} ({release.id}) to {denv.environment.name}: {strategy}")
        if _argo(denv):
            return _hand_off(denv, "deploy", out, release=release, strategy=strategy)
        report = denv.controller(log=log).deploy(release, strategy)
    return _finish(denv, report, "deploy", out, as_json=args.json, approval=approval, gate=gate)


def _render(denv: DeployEnv, strategy: StrategyKind, version: str | None) -> int:
    from pipelines.deploy.environment import project_version
    from pipelines.deploy.kubernetes.render import render_environment, to_yaml

    objects = render_environment(
        denv.config,
        denv.environment,
        release="next",
        version=version or project_version(denv.project) or "0.0.0",
        strategy=strategy,
    )
    if not objects:
        raise UsageError(
            f"environment {denv.environment.name!r} has no kubernetes target: nothing to render",
            hint="--render prints the objects of targets with kind: kubernetes",
        )
    sys.stdout.write(to_yaml(objects))
    return EXIT_OK


def _only_target(denv: DeployEnv, name: str) -> DeployEnv:
    targets = tuple(t for t in denv.environment.deploy.targets if t.name == name)
    if not targets:
        names = ", ".join(t.name for t in denv.environment.deploy.targets)
        raise UsageError(
            f"environment {denv.environment.name!r} has no target {name!r}",
            hint=f"use one of: {names}",
        )
    deploy_settings = msgspec.structs.replace(denv.environment.deploy, targets=targets)
    return replace(denv, environment=replace(denv.environment, deploy=deploy_settings))


def rollback(args: argparse.Namespace, out: Console) -> int:
    """Back to the last release that passed."""
    denv = open_env(args)
    reason = args.reason or "rollback requested"
    with denv.journal.lock(f"rollback of {denv.environment.name} by pid {os.getpid()}"):
        denv.audit("rollback", reason=reason)
        if _argo(denv):
            return _hand_off(denv, "abort", out)
        report = denv.controller(log=lambda line: out.print(line, markup=False)).rollback(reason)
    return _finish(denv, report, "rollback", out, as_json=args.json)


def promote(args: argparse.Namespace, out: Console) -> int:
    """Continue a paused deploy."""
    denv = open_env(args)
    with denv.journal.lock(f"promote of {denv.environment.name} by pid {os.getpid()}"):
        denv.audit("promote", reason=args.reason or "promoted by hand")
        if _argo(denv):
            return _hand_off(denv, "promote", out)
        report = denv.controller(log=lambda line: out.print(line, markup=False)).promote()
    return _finish(denv, report, "promote", out, as_json=args.json)


def _argo(denv: DeployEnv) -> bool:
    if not any(t.kind == "kubernetes" for t in denv.environment.deploy.targets):
        return False
    from pipelines.deploy.kubernetes.wiring import argo_target

    return argo_target(denv.environment) is not None


def _hand_off(
    denv: DeployEnv,
    action: str,
    out: Console,
    *,
    release: Release | None = None,
    strategy: StrategyKind | None = None,
) -> int:
    """A deploy, promote or rollback handed to Argo Rollouts: its outcome read from the
    Rollout's status. Only a healthy rollout (or, for a rollback, one back on stable) is 0."""
    from pipelines.deploy.kubernetes.argo import Reading
    from pipelines.deploy.kubernetes.wiring import ArgoAction, argo_target, hand_off

    target = argo_target(denv.environment)
    assert target is not None  # noqa: S101 - _argo checked it
    status = hand_off(
        denv.config,
        denv.environment,
        target,
        denv.environ,
        action=ArgoAction(action),
        log=lambda line: out.print(line, markup=False, highlight=False),
        release=release,
        strategy=strategy,
    )
    out.print(f"{action}: {status.reading.value} {status.message}".rstrip(), markup=False)
    if status.reading is Reading.PAUSED:
        out.print(
            "  the Rollout waits: `pipelines promote` or `pipelines rollback`",
            markup=False,
            highlight=False,
        )
    wanted = Reading.ROLLED_BACK if action == "abort" else Reading.SUCCEEDED
    return EXIT_OK if status.reading is wanted else EXIT_FAILED


def _finish(
    denv: DeployEnv,
    report: DeployReport,
    action: str,
    out: Console,
    *,
    as_json: bool,
    approval: dict[str, Any] | None = None,
    gate: dict[str, Any] | None = None,
) -> int:
    recorded = record(denv, report, action=action, approval=approval or {}, gate=gate or {})
    if as_json:
        summary = {
            "status": report.status.value,
            "deploy": report.deploy,
            "reason": report.reason,
            "evidence": str(recorded.evidence),
        }
        print(json.dumps(summary))
    else:
        status = Text(report.status.value, style=STYLE[report.status])
        out.print(Text.assemble(f"{report.deploy}: ", status, f" {report.reason}".rstrip()))
        timeline = report.timeline
        if report.rolled_back and timeline.decision and timeline.traffic_on_stable:
            out.print(
                f"traffic back on stable {timeline.traffic_on_stable - timeline.decision:.2f} s "
                "after the decision",
                highlight=False,
            )
        out.print(f"evidence: {recorded.evidence}", markup=False, highlight=False)
    # A rollback someone asked for has succeeded when it rolled back.
    wanted = DeployStatus.ROLLED_BACK if action == "rollback" else DeployStatus.SUCCEEDED
    return EXIT_OK if report.status is wanted else EXIT_FAILED


def status(args: argparse.Namespace, out: Console) -> int:
    """What runs in an environment and what happened last."""
    denv = open_env(args)
    data = environment_status(denv)
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    last = data["last"]
    table = Table(title=f"{denv.environment.name}: stable {data['stable'] or 'none'}")
    for column in ("target", "entrypoint", "instance", "release", "traffic"):
        table.add_column(column)
    for name, target in data["targets"].items():
        weights = target["weights"]
        for instance, release in target["running"].items():
            total = sum(weights.values())
            share = weights.get(instance)
            traffic = f"{100 * share / total:.0f}%" if share and total else "-"
            add_row(table, name, target["entrypoint"], instance, release, traffic)
    show(out, table)
    if last is not None:
        line = f"last deploy {last['id']} ({last['version']}, {last['strategy']}): {last['status']}"
        out.print(line, markup=False, highlight=False)
        for name, progress in last["progress"].items():
            step = f"  {name}: step {progress['done']}/{progress['total']}"
            out.print(f"{step} {progress['current'] or ''}", markup=False, highlight=False)
        if last["reason"]:
            out.print(f"  reason: {last['reason']}", markup=False, highlight=False)
        if last["interrupted"]:
            out.print(
                "  its controller is gone: `pipelines deploy --resume` or `pipelines rollback`",
                markup=False,
                highlight=False,
            )
    out.print(f"state: {denv.directory}", markup=False, highlight=False)
    return EXIT_OK
