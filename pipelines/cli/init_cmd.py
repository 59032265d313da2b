"""``pipelines init``: scaffold a project."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from pipelines.cli.common import project_dir
from pipelines.errors import EXIT_OK
from pipelines.scaffold import DEFAULT_MODULE, scaffold


def init(args: argparse.Namespace, out: Console) -> int:
    """Write pipeline.yaml and .github/workflows/ci.yml."""
    done = scaffold(
        project_dir(args),
        module=args.module or DEFAULT_MODULE,
        force=args.force,
        config=Path(args.config) if args.config else None,
    )
    for path in done.files:
        out.print(f"wrote {path}", highlight=False, markup=False)
    if done.ignored:
        added = ", ".join(done.ignored)
        out.print(f"added {added} to .gitignore (a run writes them)", highlight=False, markup=False)
    if args.module is None:
        out.print(
            f"edit the module address in the workflow (now {DEFAULT_MODULE})", highlight=False
        )
    return EXIT_OK
