"""The test stage: pytest with JUnit XML, Cobertura coverage, reruns and a report log."""

from __future__ import annotations

from pipelines.errors import ReportError
from pipelines.process import python_command, run_tool
from pipelines.reports.junit import read_junit
from pipelines.stages.base import READ_ONLY_SAFE_ENV, StageContext, StageResult, StageStatus

# pytest's own exit codes (pytest.ExitCode), named so the summary can say what happened.
_PYTEST_EXIT = {
    0: "all tests passed",
    1: "some tests failed",
    2: "interrupted",
    3: "internal pytest error",
    4: "pytest usage error",
    5: "no tests were collected",
}


def command(context: StageContext) -> list[str]:
    """The full pytest argv: the configured command plus the reporting options."""
    settings = context.config.test
    reports = context.reports("test").relative_to(context.project)
    argv = [
        *python_command(settings.command),
        f"--junitxml={reports / 'junit.xml'}",
        f"--report-log={reports / 'report-log.jsonl'}",
        "--cov-report=",
        f"--cov-report=xml:{reports / 'coverage.xml'}",
        "-p",
        "no:cacheprovider",  # keeps a read-only source tree untouched
    ]
    argv += [f"--cov={source}" for source in settings.coverage_source]
    if settings.reruns:
        argv += ["--reruns", str(settings.reruns)]
    return argv


def run(context: StageContext) -> StageResult:
    """Run the test command; the stage fails when pytest does."""
    reports = context.reports("test")
    for stale in ("junit.xml", "coverage.xml", "report-log.jsonl"):
        (reports / stale).unlink(missing_ok=True)
    env = {**READ_ONLY_SAFE_ENV, "COVERAGE_FILE": str(reports / ".coverage")}
    done = run_tool(command(context), cwd=context.project, env=env, capture=False)
    details: dict[str, object] = {"pytest_exit_code": done.returncode}
    summary = _PYTEST_EXIT.get(done.returncode, f"pytest exit code {done.returncode}")
    try:
        tests = read_junit([reports / "junit.xml"])
        details["tests"] = tests.to_dict()
        summary += (
            f": {tests.passed} passed, {tests.failed} failed, {tests.errors} errors, "
            f"{tests.skipped} skipped, {tests.flaky} flaky"
        )
    except ReportError as exc:
        details["report_problem"] = exc.message
    status = StageStatus.PASSED if done.returncode == 0 else StageStatus.FAILED
    result = StageResult("test", status, summary, (), details)
    result.write(context)
    return result
