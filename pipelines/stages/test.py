"""The test stage: pytest with JUnit XML, Cobertura coverage, reruns and a report log, run by
the project's own environment."""

from __future__ import annotations

import re
import sys

import msgspec

from pipelines import atomic
from pipelines.errors import ReportError, ToolError
from pipelines.layout import COVERAGE, JUNIT, REPORT_LOG
from pipelines.process import run_streaming, show_command
from pipelines.project.commands import pytest_command
from pipelines.project.facts import read_facts
from pipelines.readers.junit import TestSummary, read_junit
from pipelines.stages.base import (
    READ_ONLY_SAFE_ENV,
    StageContext,
    StageResult,
    StageStatus,
    project_environment,
)

# pytest's own exit codes (pytest.ExitCode), named so the summary can say what happened.
_PYTEST_EXIT = {
    0: "all tests passed",
    1: "some tests failed",
    2: "interrupted",
    3: "internal pytest error",
    4: "pytest usage error",
    5: "no tests were collected",
}
# pytest's "E   ModuleNotFoundError: No module named 'x'" lines: the real cause of an error,
# a warning turned into an error ("E   pytest.PytestRemovedIn10Warning: ...") included; pytest
# reports an error of its own configuration as "ERROR: ..." or "INTERNALERROR> ...".
_ERROR_LINE = re.compile(
    r"^(?:E\s+|ERROR: |INTERNALERROR> E?\s*)([\w.]+(?:Error|Exception|Warning)\b:?.*)$",
    re.MULTILINE,
)


class TestDetails(msgspec.Struct, frozen=True):
    """How pytest ran and what its JUnit report counted (or why it could not be read)."""

    __test__ = False  # not a pytest test class, whatever its name

    pytest_exit_code: int | None = None
    argv: tuple[str, ...] = ()
    tests: TestSummary | None = None
    report_problem: str | None = None


def run(context: StageContext) -> StageResult[TestDetails]:
    """Run the test command; the stage fails when pytest does."""
    reports = context.reports("test")
    for stale in (JUNIT, COVERAGE, REPORT_LOG):
        atomic.remove_report(reports / stale)
    environ = {**context.environ, **READ_ONLY_SAFE_ENV, "COVERAGE_FILE": str(reports / ".coverage")}
    python = sys.executable
    try:
        env = project_environment(context)
    except ToolError as exc:
        return _write(context, StageResult("test", StageStatus.FAILED, exc.message, TestDetails()))
    if env is not None:
        environ, python = env.environ(environ), str(env.python)
    argv = pytest_command(
        context.config, read_facts(context.project), python, str(context.layout.reports)
    )
    show_command(argv)
    try:
        done = run_streaming(argv, cwd=context.project, env=environ)
    except ToolError as exc:
        return _write(context, StageResult("test", StageStatus.FAILED, exc.message, TestDetails()))
    details = TestDetails(done.returncode, tuple(argv))
    summary = _PYTEST_EXIT.get(done.returncode, f"pytest exit code {done.returncode}")
    try:
        tests = read_junit([reports / JUNIT])
        details = msgspec.structs.replace(details, tests=tests)
        summary += (
            f": {tests.passed} passed, {tests.failed} failed, {tests.errors} errors, "
            f"{tests.skipped} skipped, {tests.xfailed} xfailed, {tests.flaky} flaky"
        )
    except ReportError as exc:
        details = msgspec.structs.replace(details, report_problem=exc.message)
    cause = _ERROR_LINE.search(done.stdout)
    if done.returncode in (1, 2, 3, 4) and cause:
        # The first error pytest printed, so a missing dependency shows in the run table.
        summary += f" (first error: {cause.group(1)[:200]})"
    status = StageStatus.PASSED if done.returncode == 0 else StageStatus.FAILED
    return _write(context, StageResult("test", status, summary, details=details))


def _write(context: StageContext, result: StageResult[TestDetails]) -> StageResult[TestDetails]:
    result.write(context)
    return result
