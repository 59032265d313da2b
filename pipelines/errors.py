"""Typed errors raised by the library; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

# Exit codes shared by every command (README.md, "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM (CI cancellation, docker stop): stopped like an interrupt


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
