"""The command line: the only place that prints and exits (one error boundary)."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import traceback
from collections.abc import Sequence

from rich.console import Console

from pipelines import __version__
from pipelines.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, PipelineError

COMMANDS = {
    "validate": "pipelines.cli.inspect_cmd:validate",
    "plan": "pipelines.cli.inspect_cmd:plan",
    "run": "pipelines.cli.run_cmd:run",
    "stage": "pipelines.cli.stage_cmd:stage",
    "gate": "pipelines.cli.gate_cmd:gate",
    "init": "pipelines.cli.init_cmd:init",
    "flags": "pipelines.cli.flags_cmd:flags",
    "audit": "pipelines.cli.flags_cmd:audit",
    "health": "pipelines.cli.health_cmd:health",
}


def build_parser() -> argparse.ArgumentParser:
    """Every command and option."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-C",
        "--project",
        default=".",
        metavar="DIR",
        help="the project directory (default: the current one)",
    )
    common.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="pipeline file (default: DIR/pipeline.yaml; defaults if missing)",
    )
    with_env = argparse.ArgumentParser(add_help=False)
    with_env.add_argument("--env", default="ci", help="environment (default: ci)")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of tables")

    parser = argparse.ArgumentParser(prog="pipelines", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("validate", parents=[common], help="check pipeline.yaml")
    sub.add_parser("plan", parents=[common, with_env, as_json], help="print the plan")

    run = sub.add_parser("run", parents=[common, with_env, as_json], help="run the pipeline")
    run.add_argument("stages", nargs="*", metavar="STAGE", help="only these stages")
    run.add_argument("--runner", default="local", help="where stages run (default: local)")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failed stage")

    stage = sub.add_parser("stage", parents=[common, with_env], help="run one stage's work here")
    stage.add_argument("name", help="lint, security, test or gate")

    gate = sub.add_parser(
        "gate",
        parents=[common, with_env, as_json],
        help="decide from the reports whether a deploy may proceed",
    )
    gate.add_argument(
        "--junit",
        action="append",
        default=[],
        metavar="PATH",
        help="JUnit XML report (repeatable; default: reports/test/junit.xml)",
    )
    gate.add_argument("--coverage", default=None, metavar="PATH", help="Cobertura XML report")
    gate.add_argument(
        "--reportlog",
        action="append",
        default=[],
        metavar="PATH",
        help="pytest-reportlog file, to see reruns (repeatable)",
    )
    init = sub.add_parser(
        "init", parents=[common], help="scaffold pipeline.yaml and a thin CI workflow in a project"
    )
    init.add_argument(
        "--module",
        default=None,
        metavar="ADDRESS",
        help="the Dagger module the workflow calls (github.com/OWNER/REPO@vX.Y.Z)",
    )
    init.add_argument("--force", action="store_true", help="replace existing files")

    sub.add_parser(
        "health", parents=[common, with_env, as_json], help="run the environment's health checks"
    )

    flag_file = argparse.ArgumentParser(add_help=False)
    flag_file.add_argument(
        "--file", default=None, metavar="PATH", help="flags file (default: DIR/flags.yaml)"
    )
    flags_parser = sub.add_parser("flags", help="feature flags per environment")
    flag_sub = flags_parser.add_subparsers(dest="flags_command", required=True, metavar="ACTION")
    flag_sub.add_parser(
        "list",
        parents=[common, with_env, as_json, flag_file],
        help="every flag's value in an environment",
    )
    get = flag_sub.add_parser(
        "get",
        parents=[common, with_env, as_json, flag_file],
        help="one flag's value (for a stickiness key)",
    )
    get.add_argument("name")
    get.add_argument("--key", default=None, help="stickiness key (a user id) for rollouts")
    set_ = flag_sub.add_parser(
        "set",
        parents=[common, with_env, flag_file],
        help="change a flag in an environment (audited)",
    )
    set_.add_argument("name")
    set_.add_argument("value")
    set_.add_argument("--reason", required=True, help="why: recorded in the audit log")
    flag_sub.add_parser(
        "export",
        parents=[common, with_env, flag_file],
        help="the flags as shell environment variables",
    )
    history = flag_sub.add_parser(
        "history", parents=[common, as_json, flag_file], help="the audited changes"
    )
    history.add_argument("--env", default=None, help="only this environment")

    audit = sub.add_parser("audit", help="audit logs")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_sub.add_parser(
        "verify",
        parents=[common, as_json, flag_file],
        help="check that no audit entry was edited or removed",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command, and map every outcome to an exit code."""
    out = Console()
    err = Console(stderr=True, soft_wrap=True)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (2) or the help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        module, function = COMMANDS[args.command].split(":")
        # Commands load on demand: `pipelines stage` runs once per stage and must start fast.
        handler = getattr(importlib.import_module(module), function)
        return int(handler(args, out))
    except PipelineError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except Exception:  # the boundary: anything unexpected is recorded, never hidden
        with tempfile.NamedTemporaryFile(
            "w", prefix="pipelines-crash-", suffix=".txt", delete=False
        ) as handle:
            traceback.print_exc(file=handle)
        err.print(
            f"[bold red]internal error[/] ({sys.exc_info()[1]!r}); details in {handle.name}",
            highlight=False,
        )
        return EXIT_INTERNAL
