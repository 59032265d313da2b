"""``pipelines metrics``: export the last run's metrics to a textfile and/or a Pushgateway."""

from __future__ import annotations

import argparse

from rich.console import Console

from pipelines.cli.common import project_config, project_layout
from pipelines.errors import EXIT_OK
from pipelines.operations.metrics import export_metrics


def metrics(args: argparse.Namespace, out: Console) -> int:
    """Export from the command line, defaulting to pipeline.yaml's ``metrics`` section."""
    config = project_config(args)
    config.environment(args.env)
    settings = config.metrics
    for line in export_metrics(
        config,
        project_layout(args, config),
        args.env,
        textfile=args.textfile or settings.textfile,
        pushgateway=args.pushgateway or settings.pushgateway,
        job=args.job or settings.job,
    ):
        out.print(line, highlight=False)
    return EXIT_OK
