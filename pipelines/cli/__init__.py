"""The command line: the only place that prints and exits (one error boundary)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from pipelines.cli import stage_argv
from pipelines.cli.guard import guarded
from pipelines.cli.handlers import load_handler
from pipelines.errors import (
    EXIT_CLOSED_OUTPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    PipelineError,
)
from pipelines.report.workflow_commands import neutralise
from pipelines.safe_text import terminal

if TYPE_CHECKING:  # rich loads only where a command prints through it (not `pipelines stage`)
    import argparse

    from rich.console import Console

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command, and map every outcome to an exit code."""
    terminated: list[int] = []
    previous = _stop_on_sigterm(terminated)
    try:
        args = _parse(list(sys.argv[1:] if argv is None else argv))
        if isinstance(args, int):
            return args
        # Under GitHub Actions nothing printed inside is read as a workflow command; the SDK's
        # own annotations are printed after it.
        with guarded(os.environ, machine_readable=bool(getattr(args, "json", False))):
            try:
                code = _dispatch(args)
            except BaseException as raised:  # the boundary: every outcome becomes an exit code
                code = _exit_code(_unwrap(raised), terminated=bool(terminated))
    except BaseException as raised:  # an interrupt before the command ran (or in the guard)
        code = _exit_code(_unwrap(raised), terminated=bool(terminated))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return EXIT_TERMINATED if terminated and code == EXIT_INTERRUPTED else code


def _parse(words: list[str]) -> argparse.Namespace | int:
    """The parsed command line, or the exit code of a usage error or help (argparse printed
    it). `pipelines stage` runs once per stage: its usual command line is read without
    argparse (cli/stage_argv.py); every other one, and any stage command line out of the
    ordinary, by the whole parser."""
    if "_ARGCOMPLETE" not in os.environ:
        quick = stage_argv.read(words)
        if quick is not None:
            return cast("argparse.Namespace", quick)
    from pipelines.cli.completion import complete_if_asked
    from pipelines.cli.parser import build_parser

    whole = build_parser(words)
    complete_if_asked(whole)
    try:
        return whole.parse_args(words)
    except SystemExit as exc:  # argparse printed the usage error (2) or the help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "stage":
        # Plain lines only: a stage process does not load rich unless it shows a table.
        from pipelines.cli.stage_cmd import run_stage

        return run_stage(args)
    return load_handler(args.command)(args, _console())


def _console(*, stderr: bool = False) -> Console:
    from pipelines.cli.display import SafeConsole

    # soft_wrap: plain lines stay whole in logs; tables still fit.
    return SafeConsole(stderr=stderr, soft_wrap=True)


def _stop_on_sigterm(terminated: list[int]) -> Any:
    """Make SIGTERM (CI cancellation, docker stop) stop a command the way Ctrl-C does: stages
    killed with everything they started, the manifest written, then exit 143."""

    def on_sigterm(signum: int, _frame: object) -> None:
        terminated.append(signum)
        if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
            raise KeyboardInterrupt  # a background job ignores SIGINT: interrupt directly
        # Whoever handles Ctrl-C now (the event loop cancels its tasks) handles this too.
        signal.raise_signal(signal.SIGINT)

    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may handle signals (a caller's worker thread)
    return signal.signal(signal.SIGTERM, on_sigterm)


def _unwrap(raised: BaseException) -> BaseException:
    """The error that matters inside a task group's exception group: an expected error or an
    interrupt, else the first one."""
    if not isinstance(raised, BaseExceptionGroup):
        return raised
    leaves: list[BaseException] = []
    pending: list[BaseException] = [raised]
    while pending:
        current = pending.pop(0)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            leaves.append(current)
    for kind in (KeyboardInterrupt, PipelineError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0] if leaves else raised


def _exit_code(raised: BaseException, *, terminated: bool = False) -> int:
    if isinstance(raised, SystemExit | GeneratorExit):
        raise raised
    from rich.markup import escape

    err = _console(stderr=True)
    if isinstance(raised, PipelineError):
        # Messages quote files and user input: never markup, control characters escaped.
        # stderr may reach GitHub's log after the guard ends: no line may be a command.
        message = neutralise(terminal(raised.message))
        hint = neutralise(terminal(raised.hint or ""))
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        if hint:
            err.print(f"[dim]hint:[/] {escape(hint)}", highlight=False)
        return raised.exit_code
    if isinstance(raised, KeyboardInterrupt):
        err.print("terminated" if terminated else "interrupted")
        return EXIT_INTERRUPTED
    if isinstance(raised, BrokenPipeError):
        # `pipelines ... | head` closed the pipe: not an error of ours. What is still buffered
        # goes nowhere, so the interpreter's last flush does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_OUTPUT
    # Anything unexpected is recorded, never hidden.
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile(
        "w", prefix="pipelines-crash-", suffix=".txt", delete=False
    ) as handle:
        traceback.print_exception(raised, file=handle)
    err.print(
        f"[bold red]internal error[/] ({escape(repr(raised))}); details in {handle.name}",
        highlight=False,
    )
    return EXIT_INTERNAL
