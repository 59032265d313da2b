"""The example pipeline end to end on the host: the gate's numbers must be pytest's own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.pipeline_cli import decision, run_pipeline

pytestmark = pytest.mark.integration

FLAKY_AND_FAILING = """
import pathlib

COUNTER = pathlib.Path(__file__).with_name("flaky-attempts")


def test_flaky_passes_on_second_attempt() -> None:
    attempts = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(attempts + 1))
    assert attempts >= 1


def test_always_fails() -> None:
    assert 1 + 1 == 3
"""


def pytest_counts(log: Path) -> dict[str, int]:
    """Parse pytest's own closing line, e.g. '1 failed, 11 passed, 3 rerun in 0.5s'."""
    lines = [line for line in log.read_text().splitlines() if re.search(r" in [\d.]+s", line)]
    assert lines, log.read_text()
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", lines[-1].split(" in ")[0])}


def test_clean_example_passes_and_leaves_artifacts(example_copy: Path) -> None:
    code, result = run_pipeline(example_copy)
    assert code == 0, result
    assert [s["status"] for s in result["stages"]] == ["passed"] * 5
    counts = pytest_counts(example_copy / "reports/test/log.txt")
    tests = decision(example_copy)["tests"]
    assert tests["passed"] == counts["passed"]
    assert tests["failed"] == counts.get("failed", 0) == 0
    assert decision(example_copy)["status"] == "open"
    artifacts = Path(result["artifacts"])
    assert {p.name for p in artifacts.iterdir()} == {
        "run-manifest.json",
        "test-results.xml",
        "coverage.xml",
        "gate-decision.json",
    }
    manifest = json.loads((artifacts / "run-manifest.json").read_text())
    assert manifest["env"] == "ci"
    assert [s["name"] for s in manifest["stages"]] == [
        "install",
        "lint",
        "security",
        "test",
        "gate",
    ]
    assert all(s["duration_seconds"] > 0 for s in manifest["stages"])
    security = json.loads((example_copy / "reports/security/result.json").read_text())
    assert set(security["details"]["scanners"]) == {"bandit", "detect-secrets", "pip-audit"}


def test_failing_and_flaky_tests_are_counted_as_pytest_reports_them(example_copy: Path) -> None:
    (example_copy / "tests" / "test_unreliable.py").write_text(FLAKY_AND_FAILING)
    code, result = run_pipeline(example_copy)
    assert code == 1
    statuses = {s["name"]: s["status"] for s in result["stages"]}
    assert statuses["test"] == "failed"
    assert statuses["gate"] == "failed"  # it still ran: run_if always
    counts = pytest_counts(example_copy / "reports/test/log.txt")
    gate = decision(example_copy)
    tests = gate["tests"]
    assert counts["failed"] == tests["failed"] == 1
    assert counts["passed"] == tests["passed"]
    assert counts["rerun"] == 3  # one for the flaky test, two for the failing one
    assert tests["flaky"] == 1
    assert [t["name"] for t in tests["flaky_tests"]] == ["test_flaky_passes_on_second_attempt"]
    assert [t["name"] for t in tests["failing"]] == ["test_always_fails"]
    assert tests["records"] == tests["executed"] + 3
    assert gate["status"] == "closed"
    expected_rate = 100 * counts["passed"] / (counts["passed"] + counts["failed"])
    assert tests["pass_rate"] == pytest.approx(expected_rate)


def test_selected_stages_and_fail_fast(example_copy: Path) -> None:
    (example_copy / "service" / "bad.py").write_text("import os\n")
    code, result = run_pipeline(example_copy, "lint", "--fail-fast")
    assert code == 1
    assert [(s["name"], s["status"]) for s in result["stages"]] == [("lint", "failed")]
    lint = json.loads((example_copy / "reports/lint/result.json").read_text())
    assert lint["findings"][0]["file"] == "service/bad.py"
