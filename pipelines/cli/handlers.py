"""Which function handles each command but ``pipelines stage`` (which runs once per stage and
prints plain lines, see ``cli.stage_cmd``). Commands load on demand: each handler's module is
imported only when it runs; the imports are typed, so mypy checks every handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

Handler = Callable[["argparse.Namespace", "Console"], int]


def load_handler(command: str) -> Handler:  # noqa: PLR0911, PLR0912 - one case a command
    """The handler of ``command`` (argparse allows only known commands)."""
    match command:
        case "validate":
            from pipelines.cli.inspect_cmd import validate

            return validate
        case "plan":
            from pipelines.cli.inspect_cmd import plan

            return plan
        case "run":
            from pipelines.cli.run_cmd import run

            return run
        case "gate":
            from pipelines.cli.gate_cmd import gate

            return gate
        case "init":
            from pipelines.cli.init_cmd import init

            return init
        case "completion":
            from pipelines.cli.completion_cmd import completion

            return completion
        case "flags":
            from pipelines.cli.flags_cmd import flags

            return flags
        case "audit":
            from pipelines.cli.flags_cmd import audit

            return audit
        case "health":
            from pipelines.cli.health_cmd import health

            return health
        case "metrics":
            from pipelines.cli.metrics_cmd import metrics

            return metrics
        case "monitoring":
            from pipelines.cli.monitoring_cmd import monitoring

            return monitoring
        case "schema":
            from pipelines.cli.schema_cmd import schema

            return schema
        case "deploy" | "rollback" | "promote" | "status" | "restore" | "stop" | "abort":
            from pipelines.cli import deploy_cmd

            handlers: dict[str, Handler] = {
                "deploy": deploy_cmd.deploy,
                "rollback": deploy_cmd.rollback,
                "promote": deploy_cmd.promote,
                "status": deploy_cmd.status,
                "restore": deploy_cmd.restore,
                "stop": deploy_cmd.stop,
                "abort": deploy_cmd.abort,
            }
            return handlers[command]
        case "watch":
            from pipelines.cli.watch_cmd import watch

            return watch
        case "drill":
            from pipelines.cli.drill_cmd import drill

            return drill
        case "report":
            from pipelines.cli.report_cmd import report

            return report
        case "artifacts":
            from pipelines.cli.report_cmd import artifacts_prune

            return artifacts_prune
        case "perf":
            from pipelines.cli.report_cmd import perf

            return perf
    raise KeyError(command)
