"""``pipelines completion bash|zsh|fish``: the shell code that completes commands, stages and
environments."""

from __future__ import annotations

import argparse

from rich.console import Console

from pipelines.cli.completion import script
from pipelines.errors import EXIT_OK


def completion(args: argparse.Namespace, out: Console) -> int:
    """Print the registration code for ``args.shell``."""
    del out  # shell code goes out verbatim, never through rich
    print(script(args.shell), end="")
    return EXIT_OK
