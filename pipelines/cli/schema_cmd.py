"""``pipelines schema KIND``: the JSON Schema of a config file (for editors) or of the plan."""

from __future__ import annotations

import argparse

from rich.console import Console

from pipelines.config.json_schemas import schema_text
from pipelines.errors import EXIT_OK


def schema(args: argparse.Namespace, out: Console) -> int:
    """Print the JSON Schema (the same as docs/schema/<kind>.schema.json)."""
    print(schema_text(args.kind), end="")
    return EXIT_OK
