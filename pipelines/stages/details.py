"""What each built-in stage records in its result.json beside its status and findings.

Stages build these values; readers (the gate, the run summary) decode result.json into the
same types, once, at the file (``stages.base.read_result``). The gate's, which holds the
decision, is with the gate (``stages.gate``): no other stage loads the gate's rules.
"""

from __future__ import annotations

import msgspec

from pipelines.readers.junit import TestSummary
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


class TestDetails(msgspec.Struct, frozen=True):
    """How pytest ran and what its JUnit report counted (or why it could not be read)."""

    __test__ = False  # not a pytest test class, whatever its name

    pytest_exit_code: int | None = None
    argv: tuple[str, ...] = ()
    tests: TestSummary | None = None
    report_problem: str | None = None


class CustomDetails(msgspec.Struct, frozen=True):
    """The reports a custom stage declared but did not write."""

    missing_reports: tuple[str, ...] = ()
