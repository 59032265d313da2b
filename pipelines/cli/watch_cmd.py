"""``pipelines watch``: scheduled checks after a deploy; a rollback on a critical failure."""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from pipelines.cli.deploy_cmd import open_env
from pipelines.config.schema import parse_duration
from pipelines.deploy import operations
from pipelines.deploy.controller import RealClock
from pipelines.errors import EXIT_FAILED, EXIT_OK


def watch(args: argparse.Namespace, out: Console) -> int:
    """Watch until the window ends (exit 0) or a failure rolled back (exit 1)."""
    # The durations first: a bad one is a usage error before anything is opened.
    window = parse_duration(args.window, "--for")
    every = parse_duration(args.every, "--every")
    denv = open_env(args)
    result = operations.watch(
        denv,
        window=window,
        every=every,
        clock=RealClock(),
        log=lambda line: None if args.json else out.print(line, markup=False, highlight=False),
    )
    outcome, evidence = result.watch, result.evidence
    summary = {
        "release": outcome.release,
        "checks": outcome.checks,
        "failure": outcome.failure or None,
        "replaced": outcome.replaced,
        "rolled_back": outcome.rollback is not None,
        "evidence": str(evidence) if evidence else None,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        out.print(
            f"watch of {outcome.release}: {outcome.checks} checks, "
            + (f"failed ({outcome.failure}); rolled back" if outcome.failure else "healthy"),
            markup=False,
            highlight=False,
        )
    return EXIT_FAILED if outcome.failure else EXIT_OK
