"""Typed errors raised by the library; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

from collections.abc import Iterable

# Exit codes shared by every command (README.md, "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM (CI cancellation, docker stop): stopped like an interrupt
EXIT_CLOSED_OUTPUT = 141  # the reader of stdout went away (`| head`), as a shell's SIGPIPE


def closest(value: str, names: Iterable[str]) -> str | None:
    """The name ``value`` most likely meant: the first (in order) that begins with it, else
    the nearest in spelling, else None."""
    ordered = sorted(names)
    begun = [name for name in ordered if value and name.startswith(value)]
    if begun:
        return begun[0]
    import difflib  # noqa: PLC0415 - only a mistake pays for it; every stage imports this module

    near = difflib.get_close_matches(value, ordered, n=1)
    return near[0] if near else None


def did_you_mean(value: str, names: Iterable[str]) -> str:
    """``did you mean 'NAME'? `` (the closest name, for a hint), or nothing."""
    name = closest(value, names)
    return f"did you mean {name!r}? " if name else ""


class PipelineError(Exception):
    """Base of every expected error: a one-line message plus a hint on what to change."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(PipelineError):
    """pipeline.yaml (or another config file) is missing, malformed or invalid."""


class UsageError(PipelineError):
    """The command line asks for something that cannot be done (unknown stage, missing file)."""


class ReportError(PipelineError):
    """A report file (JUnit, coverage, SARIF) cannot be read safely."""

    exit_code = EXIT_FAILED

    def __init__(self, path: str, reason: str, *, hint: str = "") -> None:
        super().__init__(f"{path}: {reason}", hint=hint)
        self.path = path
        self.reason = reason


class ToolError(PipelineError):
    """An external tool could not be started or misbehaved in a way that is not a finding."""

    exit_code = EXIT_FAILED
