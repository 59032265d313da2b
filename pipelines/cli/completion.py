"""Shell completion for bash, zsh and fish, through argcomplete: commands and options come from
the parser itself, stages and environments from the project's pipeline.yaml (the ``-C`` and
``--config`` already typed, else the current directory).

argcomplete is imported only when a shell asks for completions, so no other command pays for
it. A pipeline file that cannot be read completes the built-in stages and no environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")
PROGRAM = "pipelines"


def _config(parsed_args: argparse.Namespace) -> Any:
    from pipelines.config.pipeline import load_config
    from pipelines.errors import PipelineError

    project = Path(getattr(parsed_args, "project", None) or ".")
    config = getattr(parsed_args, "config", None)
    try:
        return load_config(project, Path(config) if config else None)
    except (PipelineError, OSError):
        return None


def stage_names(*, prefix: str, parsed_args: argparse.Namespace, **_: object) -> list[str]:
    """Every built-in and custom stage of the project."""
    from pipelines.config.pipeline import BUILTIN_STAGES

    config = _config(parsed_args)
    names: Iterable[str] = config.stage_names if config is not None else BUILTIN_STAGES
    return [name for name in names if name.startswith(prefix)]


def environment_names(*, prefix: str, parsed_args: argparse.Namespace, **_: object) -> list[str]:
    """The project's environments."""
    config = _config(parsed_args)
    names: Iterable[str] = sorted(config.environments) if config is not None else ()
    return [name for name in names if name.startswith(prefix)]


def stages_help(argv: list[str]) -> str:
    """The stages ``pipelines stage`` accepts in the project ``argv`` names (for its help)."""
    from pipelines.config.pipeline import BUILTIN_STAGES

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("-C", "--project", default=".")
    where.add_argument("--config", default=None)
    known, _ = where.parse_known_args(argv)
    config = _config(known)
    if config is None:
        return (
            f"built-in stages: {', '.join(BUILTIN_STAGES)} (the project's pipeline file could "
            "not be read: `pipelines validate` says why)"
        )
    custom = [stage.name for stage in config.custom]
    return f"stages of {config.source}: {', '.join(BUILTIN_STAGES)}" + (
        f"; its own: {', '.join(custom)}" if custom else "; no stages of its own"
    )


def offer(action: argparse.Action, completer: object) -> argparse.Action:
    """Tell argcomplete how to complete this argument's values (an attribute it reads)."""
    setattr(action, "completer", completer)  # noqa: B010 - argparse declares no such field
    return action


def complete_if_asked(parser: argparse.ArgumentParser) -> None:
    """Answer the shell and exit, when the shell's completion function is what called us."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    argcomplete.autocomplete(parser)


def script(shell: str) -> str:
    """The code that registers completion of ``pipelines`` in ``shell``."""
    from argcomplete.shell_integration import shellcode

    return shellcode([PROGRAM], shell=shell)
