"""What each built-in stage records in its result.json beside its status and findings.

Stages build these values; readers (the gate, the run summary) decode result.json into the
same types, once, at the file (``stages.base.read_result``). The gate's and the test
stage's are with their stages: no other stage loads the gate's rules or the JUnit reader.
"""

from __future__ import annotations

import msgspec

from pipelines.severity import Severity


class InstallDetails(msgspec.Struct, frozen=True):
    """Where the project's environment is."""

    path: str | None  # None: it could not be built


class LintDetails(msgspec.Struct, frozen=True):
    """The linters that ran, and those that could not (with the reason)."""

    tools: dict[str, str]  # each linter's outcome in words
    unchecked: dict[str, str] = {}


class ScannerRecord(msgspec.Struct, frozen=True):
    """How one scanner ended."""

    status: str
    findings: int
    reason: str = ""


class SecurityDetails(msgspec.Struct, frozen=True):
    """Each scanner's ending, the findings by severity, and the scanners not checked."""

    scanners: dict[str, ScannerRecord] = {}
    by_severity: dict[Severity, int] = {}
    unchecked: dict[str, str] = {}


class CustomDetails(msgspec.Struct, frozen=True):
    """The reports a custom stage declared but did not write."""

    missing_reports: tuple[str, ...] = ()
