"""Every command and option of the command line (argparse), built from the registries so the
help never falls behind them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pipelines import __version__
from pipelines.cli.arguments import http_url, non_negative, percent, probability
from pipelines.cli.completion import SHELLS, environment_names, offer, stage_names
from pipelines.cli.shared_args import Shared, listing, shared_options, stage_command
from pipelines.config.deploy import StrategyKind
from pipelines.config.json_schemas import KINDS as SCHEMA_KINDS
from pipelines.runners import RUNNERS

# What the help lists comes from the registries, so it never falls behind them.
STRATEGIES = [kind.value for kind in StrategyKind]


def _pipeline_commands(sub: Any, shared: Shared, argv: list[str]) -> None:
    common, with_env, as_json = shared.common, shared.with_env, shared.as_json
    sub.add_parser(
        "validate", parents=[shared.project, as_json], help="check pipeline.yaml and flags.yaml"
    )
    plan = sub.add_parser("plan", parents=[common, with_env, as_json], help="print the plan")
    plan.add_argument(
        "--runner",
        default=None,
        help=f"also say where {listing(RUNNERS)} would run the stages, with which Python "
        "(docker: the toolchain image, built unless it exists)",
    )
    run = sub.add_parser("run", parents=[common, with_env, as_json], help="run the pipeline")
    offer(
        run.add_argument("stages", nargs="*", metavar="STAGE", help="only these stages"),
        stage_names,
    )
    run.add_argument("--runner", default="local", help=f"{listing(RUNNERS)} (default: local)")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failed stage")
    loudness = run.add_mutually_exclusive_group()
    loudness.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print each stage's tool output as it runs, its name in front",
    )
    loudness.add_argument("-q", "--quiet", action="store_true", help="print only the summary table")
    stage_command(sub, shared, argv)
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
        "init",
        parents=[shared.project],
        help="scaffold pipeline.yaml and a thin CI workflow in a project",
    )
    init.add_argument(
        "--module",
        default=None,
        metavar="ADDRESS",
        help="the Dagger module the workflow calls (github.com/OWNER/REPO@vX.Y.Z)",
    )
    init.add_argument("--force", action="store_true", help="replace existing files")
    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of pipeline.yaml or flags.yaml (for editors), or the plan's",
    )
    schema.add_argument("kind", choices=SCHEMA_KINDS)


def _operations_commands(sub: Any, shared: Shared) -> None:
    common, with_env, as_json = shared.common, shared.with_env, shared.as_json
    sub.add_parser(
        "health", parents=[common, with_env, as_json], help="run the environment's health checks"
    )
    metrics = sub.add_parser(
        "metrics",
        parents=[common, with_env],
        help="export the last run's metrics (textfile, Pushgateway)",
    )
    metrics.add_argument(
        "--textfile",
        default=None,
        metavar="PATH",
        help="node_exporter textfile (default: reports/metrics/test_metrics.prom)",
    )
    metrics.add_argument(
        "--pushgateway", default=None, metavar="URL", type=http_url, help="Pushgateway URL"
    )
    metrics.add_argument("--job", default=None, help="Pushgateway job (default: pipelines)")
    monitoring_dir = argparse.ArgumentParser(add_help=False)
    monitoring_dir.add_argument(
        "--dir",
        default=None,
        metavar="DIR",
        help="monitoring config (default: containers/monitoring)",
    )
    monitoring = sub.add_parser("monitoring", help="the Prometheus/Alertmanager/Grafana stack")
    actions = monitoring.add_subparsers(dest="monitoring_command", required=True, metavar="ACTION")
    actions.add_parser(
        "validate",
        parents=[common, as_json, monitoring_dir],
        help="promtool, amtool and dashboard checks",
    )
    render = actions.add_parser(
        "render",
        parents=[common, monitoring_dir],
        help="alertmanager.yml with credentials from the environment",
    )
    render.add_argument("--out", required=True, metavar="DIR", help="where to write it")
    actions.add_parser(
        "health",
        parents=[common, as_json],
        help="are Prometheus, Alertmanager, Pushgateway, Grafana up?",
    )


def _deploy_commands(sub: Any, shared: Shared) -> None:
    common, with_env, as_json = shared.common, shared.with_env, shared.as_json
    deploy = sub.add_parser(
        "deploy",
        parents=[common, shared.env_required, as_json],
        help="deploy a release to an environment",
    )
    deploy.add_argument(
        "--version",
        default=None,
        help="the release's version (default: the project's version, else the commit)",
    )
    deploy.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="override the environment's strategy",
    )
    deploy.add_argument("--target", default=None, help="only this target (region)")
    deploy.add_argument("--resume", action="store_true", help="continue an interrupted deploy")
    deploy.add_argument(
        "--render",
        action="store_true",
        help="print the Kubernetes objects the deploy applies (YAML) and deploy nothing",
    )
    deploy.add_argument(
        "--force",
        action="store_true",
        help="deploy without an open gate decision (needs --reason; audited)",
    )
    deploy.add_argument("--reason", default=None, help="why (written to the audit log)")
    deploy.epilog = (
        "A new release is analysed against the recorded stable one: when that does not serve "
        "(a reboot, `pipelines stop`), the deploy restores it first, and refuses (exit 1) when "
        "the restore fails (`pipelines restore` brings it back). A deploy that pauses (a "
        "canary step {pause: null}, a blue-green with auto_promote: false, an inconclusive "
        "analysis) exits 1 and waits for `pipelines promote` (--full: all the way). SIGTERM "
        "(or `pipelines abort`) during a deploy rolls it back at once, all traffic on the "
        "stable release; the deploy then exits 1."
    )
    for name, text in (
        ("rollback", "back to the last release that passed"),
        ("promote", "continue a paused deploy"),
        ("restore", "bring the recorded stable release and its routing back"),
        ("stop", "stop the router and every instance of the environment"),
    ):
        parser = sub.add_parser(name, parents=[common, with_env, as_json], help=text)
        parser.add_argument("--reason", default=None, help="why (written to the audit log)")
        if name == "promote":
            parser.add_argument(
                "--full",
                action="store_true",
                help="promote all the way: skip the remaining analyses, pauses and weights",
            )
            parser.epilog = (
                "A deploy pauses at a canary step {pause: null}, before a blue-green switch "
                "with auto_promote: false, on an inconclusive analysis, or after a failure "
                "with automatic rollback off; promote continues it."
            )
    abort = sub.add_parser(
        "abort",
        parents=[common, with_env, as_json],
        help="stop the running or unfinished deploy: all traffic back on the stable release",
    )
    abort.add_argument("--reason", default=None, help="why (written to the audit log)")
    abort.add_argument(
        "--wait",
        type=float,
        default=120.0,
        help="seconds to wait for a running deploy to roll back (default: 120)",
    )
    sub.add_parser(
        "status", parents=[common, with_env, as_json], help="what runs in an environment"
    )
    watch = sub.add_parser(
        "watch",
        parents=[common, with_env, as_json],
        help="health and smoke checks on a schedule after a deploy; rolls back on a failure",
    )
    watch.add_argument("--for", dest="window", default="48h", help="how long (default: 48h)")
    watch.add_argument("--every", default="30m", help="how often (default: 30m)")
    drill = sub.add_parser("drill", help="rehearse failures, timed")
    actions = drill.add_subparsers(dest="drill_command", required=True, metavar="ACTION")
    rollback = actions.add_parser(
        "rollback",
        parents=[common, with_env, as_json],
        help="deploy a good release, then a faulty one under load; time detection and rollback",
    )
    rollback.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="default: the environment's",
    )
    rollback.add_argument(
        "--fault",
        default="errors",
        help="a fault from service.faults: errors, latency or crash by default (default: errors)",
    )
    rollback.add_argument("--sla", default="15m", help="detect + roll back within (default 15m)")
    rollback.add_argument(
        "--rate",
        type=non_negative,
        default=50.0,
        help="client requests per second during the drill (default 50; 0 sends none, for "
        "a cluster this machine cannot reach: the router's answer is then the final state)",
    )


def _report_commands(sub: Any, shared: Shared) -> None:
    common, with_env, as_json = shared.common, shared.with_env, shared.as_json
    report = sub.add_parser("report", help="what the history of runs and deploys shows")
    actions = report.add_subparsers(dest="report_command", required=True, metavar="KIND")
    html = actions.add_parser(
        "html", parents=[common], help="one self-contained HTML report of a run"
    )
    html.add_argument("--run", default=None, metavar="RUN_ID", help="default: the newest run")
    html.add_argument(
        "--out", default=None, metavar="PATH", help="file or directory (default: reports/)"
    )
    summary = actions.add_parser(
        "summary",
        parents=[common, as_json],
        help="the run's facts in the terminal, as Markdown or as JSON",
    )
    summary.add_argument("--run", default=None, metavar="RUN_ID", help="default: the newest")
    summary.add_argument("--markdown", action="store_true", help="print Markdown")
    annotate = actions.add_parser(
        "github",
        parents=[common],
        help="GitHub annotations of the reports (failing tests, gate reasons, findings)",
    )
    annotate.add_argument(
        "--summary", action="store_true", help="print the Markdown job summary instead"
    )
    window = argparse.ArgumentParser(add_help=False)
    window.add_argument("--since", default="90d", help="how far back (default: 90d)")
    offer(
        window.add_argument(
            "--env", default="production", help="the environment (default: production)"
        ),
        environment_names,
    )
    actions.add_parser(
        "dora",
        parents=[common, as_json, window],
        help="deployment frequency, lead time, change failure rate, time to restore",
    )
    evidence = actions.add_parser(
        "compliance",
        parents=[common, as_json, window],
        help="change-management evidence (SOC 2 CC8.1, ISO 27001 A.8.32), Markdown and HTML",
    )
    evidence.add_argument("--out", default=None, metavar="DIR", help="default: reports/compliance/")
    artifacts = sub.add_parser("artifacts", help="the artifacts directory")
    artifact_actions = artifacts.add_subparsers(
        dest="artifacts_command", required=True, metavar="ACTION"
    )
    prune = artifact_actions.add_parser(
        "prune", parents=[common, as_json], help="remove what is older than its retention"
    )
    prune.add_argument("--dry-run", action="store_true", help="only show what would go")
    perf = sub.add_parser("perf", help="performance regressions")
    perf_actions = perf.add_subparsers(dest="perf_command", required=True, metavar="ACTION")
    compare = perf_actions.add_parser(
        "compare",
        parents=[common, with_env, as_json],
        help="pytest-benchmark results: faster, slower or unchanged (Mann-Whitney U)",
    )
    compare.add_argument("--baseline", required=True, metavar="JSON")
    compare.add_argument("--candidate", required=True, metavar="JSON")
    compare.add_argument("--alpha", type=probability, default=0.01, help="significance (0.01)")
    compare.add_argument(
        "--min-effect", type=percent, default=5.0, help="percent between medians that matters (5)"
    )
    compare.add_argument(
        "--max-slowdown",
        type=percent,
        default=None,
        help="percent slower that fails (default: the environment's gate.max_slowdown)",
    )


def _flag_commands(sub: Any, shared: Shared) -> None:
    common, with_env, as_json = shared.common, shared.with_env, shared.as_json
    flag_file = argparse.ArgumentParser(add_help=False)
    flag_file.add_argument(
        "--file",
        default=None,
        metavar="PATH",
        help="flags file (default: pipeline.yaml's `flags`, else DIR/flags.yaml); "
        "its audit log lies beside it",
    )
    flags = sub.add_parser("flags", help="feature flags per environment")
    actions = flags.add_subparsers(dest="flags_command", required=True, metavar="ACTION")
    actions.add_parser(
        "list",
        parents=[common, with_env, as_json, flag_file],
        help="every flag's value in an environment",
    )
    get = actions.add_parser(
        "get",
        parents=[common, with_env, as_json, flag_file],
        help="one flag's value (for a stickiness key)",
    )
    get.add_argument("name")
    get.add_argument("--key", default=None, help="stickiness key (a user id) for rollouts")
    set_ = actions.add_parser(
        "set",
        parents=[common, with_env, flag_file],
        help="change a flag in an environment (audited)",
    )
    set_.add_argument("name")
    set_.add_argument("value")
    set_.add_argument("--reason", required=True, help="why: recorded in the audit log")
    actions.add_parser(
        "export",
        parents=[common, with_env, flag_file],
        help="the flags as shell environment variables",
    )
    history = actions.add_parser(
        "history", parents=[common, as_json, flag_file], help="the audited changes"
    )
    history.add_argument("--env", default=None, help="only this environment")
    audit = sub.add_parser("audit", help="audit logs")
    audit_actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_actions.add_parser(
        "verify",
        parents=[common, as_json, flag_file],
        help="check that no audit entry was edited or removed",
    )
    verify.add_argument(
        "--against",
        default=None,
        metavar="DIR",
        help="artifacts whose run manifests recorded the log's head (default: DIR/artifacts)",
    )
    verify.add_argument(
        "--deploys",
        action="store_true",
        help="verify the deploy audit log (artifacts/deploy-audit.jsonl) against the deploys",
    )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Every command and option (``argv``: the command line, for help that reads the project)."""
    parser = argparse.ArgumentParser(
        prog="pipelines",
        description="One pipeline (lint, security, test, health, gate and stages of your own) "
        "that runs the same on a laptop, in Docker or through Dagger.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = shared_options()
    _pipeline_commands(sub, shared, list(sys.argv[1:] if argv is None else argv))
    _operations_commands(sub, shared)
    _flag_commands(sub, shared)
    _deploy_commands(sub, shared)
    _report_commands(sub, shared)
    completion = sub.add_parser(
        "completion", help="print the shell code that completes pipelines commands (eval it)"
    )
    completion.add_argument("shell", choices=SHELLS)
    return parser
