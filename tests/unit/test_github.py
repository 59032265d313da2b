"""GitHub Actions output: job summary, at most ten annotations, step outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.config import GateThresholds
from pipelines.errors import UsageError
from pipelines.gate_rules import Evidence, GateDecision, GateStatus, Verdict, evaluate
from pipelines.reports import github
from pipelines.reports.junit import Outcome, TestCase, TestSummary


def decision(failing: int = 0) -> dict[str, Any]:
    return {
        "env": "ci",
        "status": "closed" if failing else "open",
        "reasons": ["pass_rate: measured 80.00, required >= 95.00"] if failing else [],
        "rules": [
            {
                "name": "pass_rate",
                "measured": 80.0,
                "threshold": 95.0,
                "comparison": ">=",
                "verdict": "fail",
                "detail": "",
            },
        ],
        "tests": {
            "passed": 4 * failing or 4,  # 80% when some fail, as the rule says
            "failed": failing,
            "errors": 0,
            "skipped": 0,
            "flaky": 1,
            "pass_rate": 80.0,
            "failing": [
                {
                    "classname": "tests.test_a",
                    "name": f"test_{i}",
                    "message": "boom,\nline 2",
                    "file": "tests/test_a.py",
                }
                for i in range(failing)
            ],
        },
    }


def test_nothing_is_written_outside_github(tmp_path: Path) -> None:
    assert github.publish(GateDecision.from_dict(decision(3)), {}) == []


def test_summary_outputs_and_annotations(tmp_path: Path) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    lines = github.publish(GateDecision.from_dict(decision(12)), env)
    assert len(lines) == 10
    assert lines[0] == (
        "::error file=tests/test_a.py,title=tests.test_a.test_0::boom%2C%0Aline 2".replace(
            "%2C", ","
        )
    )
    text = summary.read_text()
    assert "Gate closed (ci)" in text
    assert "| pass_rate | 80.00 | >= 95.00 | fail |" in text
    assert output.read_text() == "gate=closed\npass_rate=80.00\nflaky=1\n"


def test_failing_tests_in_an_open_gate_are_warnings_and_are_named(tmp_path: Path) -> None:
    open_with_failures = {**decision(2), "status": "open", "reasons": []}
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    lines = github.publish(GateDecision.from_dict(open_with_failures), env)
    assert lines[0].startswith("::warning file=tests/test_a.py,title=tests.test_a.test_0::")
    assert "Failing tests: tests.test_a.test_0, tests.test_a.test_1" in summary.read_text()


def test_an_open_gate_with_failures_warns_in_the_decision() -> None:
    tests = TestSummary(passed=49, failed=1, failing=(TestCase("t", "x", "", Outcome.FAILED),))
    decided = evaluate("ci", Evidence(tests, None, {}), GateThresholds(min_pass_rate=95.0))
    rules = {rule.name: rule for rule in decided.rules}
    assert decided.status is GateStatus.OPEN
    assert rules["tests_failing"].verdict is Verdict.WARN
    assert rules["tests_failing"].detail == "failing: t.x"


def test_a_summary_file_that_is_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path)}
    with pytest.raises(UsageError, match="GITHUB_STEP_SUMMARY cannot be written"):
        github.publish(GateDecision.from_dict(decision(1)), env)
