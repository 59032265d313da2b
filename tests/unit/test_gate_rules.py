"""The gate's rules are pure: evidence and thresholds in, a decision with every rule out."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines import codec
from pipelines.config.pipeline import GateThresholds, load_config
from pipelines.gate.rules import Evidence, GateStatus, Verdict, decision_of, evaluate
from pipelines.readers.coverage import Coverage
from pipelines.readers.junit import TestSummary

COVERAGE = Coverage(
    "c.xml", lines_covered=90, lines_valid=100, branches_covered=5, branches_valid=10
)


def decide(evidence: Evidence, **thresholds: object) -> dict[str, dict[str, object]]:
    gate = GateThresholds(**{"min_pass_rate": 95.0, **thresholds})  # type: ignore[arg-type]
    decision = evaluate("ci", evidence, gate)
    rules = {rule.name: codec.to_builtins(rule) for rule in decision.rules}
    rules["_"] = {"status": decision.status.value, "reasons": decision.reasons}
    return rules


def test_open_when_every_rule_passes() -> None:
    evidence = Evidence(TestSummary(passed=97, failed=3), COVERAGE, {"low": 2})
    rules = decide(evidence, min_coverage=85, max_flaky=1)
    assert rules["_"]["status"] == "open"
    assert rules["pass_rate"]["measured"] == 97.0
    assert rules["pass_rate"]["verdict"] == "pass"
    assert rules["line_coverage"]["measured"] == 90.0
    assert rules["critical_findings"]["verdict"] == "pass"


def test_pass_rate_below_threshold_closes_with_a_reason() -> None:
    rules = decide(Evidence(TestSummary(passed=94, failed=5, errors=1), COVERAGE, {}))
    assert rules["pass_rate"]["verdict"] == "fail"
    assert rules["_"]["status"] == "closed"
    assert rules["_"]["reasons"] == ["pass_rate: measured 94.00, required >= 95.00"]


def test_errors_count_against_the_pass_rate_and_skips_do_not() -> None:
    rules = decide(Evidence(TestSummary(passed=19, errors=1, skipped=50), COVERAGE, {}))
    assert rules["pass_rate"]["measured"] == 95.0


def test_zero_executed_tests_close_the_gate() -> None:
    rules = decide(Evidence(TestSummary(skipped=4), COVERAGE, {}))
    assert rules["tests_executed"]["verdict"] == "fail"
    assert rules["pass_rate"]["verdict"] == "fail"
    assert rules["_"]["status"] == "closed"


def test_flaky_and_branch_coverage_thresholds() -> None:
    evidence = Evidence(TestSummary(passed=10, flaky=3), COVERAGE, {})
    rules = decide(evidence, max_flaky=2, min_coverage=60, coverage_metric="branch")
    assert rules["flaky_tests"]["verdict"] == "fail"
    assert rules["branch_coverage"]["measured"] == 50.0
    assert rules["branch_coverage"]["verdict"] == "fail"


def test_unset_thresholds_are_reported_as_info() -> None:
    rules = decide(Evidence(TestSummary(passed=1), COVERAGE, {}))
    assert rules["flaky_tests"]["verdict"] == Verdict.INFO
    assert rules["line_coverage"]["verdict"] == Verdict.INFO
    assert rules["_"]["status"] == "open"


def test_missing_coverage_fails_only_when_a_minimum_is_set() -> None:
    assert decide(Evidence(TestSummary(passed=1), None, {}))["_"]["status"] == "open"
    rules = decide(Evidence(TestSummary(passed=1), None, {}), min_coverage=50)
    assert rules["line_coverage"]["verdict"] == "fail"


def test_findings_by_severity() -> None:
    rules = decide(
        Evidence(TestSummary(passed=1), None, {"high": 1, "medium": 4}),
        max_findings={"critical": 0, "high": 0, "medium": 5},
    )
    assert rules["high_findings"]["verdict"] == "fail"
    assert rules["medium_findings"]["verdict"] == "pass"


def test_unchecked_scanners_warn_or_block_by_policy() -> None:
    evidence = Evidence(
        TestSummary(passed=1), None, {}, unchecked_scanners={"pip-audit": "offline"}
    )
    assert decide(evidence)["scanners_checked"]["verdict"] == "warn"
    rules = decide(evidence, allow_unchecked_scanners=False)
    assert rules["scanners_checked"]["verdict"] == "fail"
    assert "pip-audit: offline" in rules["scanners_checked"]["detail"]


def test_unreadable_reports_and_missing_security_close_the_gate() -> None:
    rules = decide(Evidence(None, None, None, problems=("j.xml: is empty",)))
    assert rules["reports_readable"]["verdict"] == "fail"
    assert rules["tests_executed"]["verdict"] == "fail"
    assert rules["security_scanned"]["verdict"] == "fail"
    assert GateStatus(rules["_"]["status"]) is GateStatus.CLOSED


def test_a_limit_on_one_severity_keeps_the_default_limits_of_the_others(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "environments:\n  production:\n    gate: {max_findings: {medium: 10}}\n"
    )
    thresholds = load_config(tmp_path).environment("production").gate
    evidence = Evidence(TestSummary(passed=100), None, {"critical": 3, "high": 5, "medium": 2})
    decision = evaluate("production", evidence, thresholds)
    rules = {rule.name: rule for rule in decision.rules}
    assert decision.status is GateStatus.CLOSED
    assert rules["critical_findings"].verdict is Verdict.FAIL
    assert rules["high_findings"].verdict is Verdict.FAIL
    assert rules["medium_findings"].verdict is Verdict.PASS
    # A severity without a limit is still in the decision, reported only.
    assert rules["low_findings"].verdict is Verdict.INFO


def test_tests_sharing_a_name_are_a_warning_in_the_decision() -> None:
    tests = TestSummary(passed=9, failed=1, shared_names=("t.a",), shared_name_count=1)
    rules = decide(Evidence(tests, None, {}))
    assert rules["test_names_unique"]["verdict"] == "warn"
    assert "t.a" in str(rules["test_names_unique"]["detail"])


def test_a_decision_reads_back_as_the_same_decision() -> None:
    tests = TestSummary(passed=9, failed=1, skipped=2, xfailed=1, flaky=1, records=14)
    evidence = Evidence(tests, COVERAGE, {"high": 1}, unchecked_scanners={"pip-audit": "offline"})
    decision = evaluate("ci", evidence, GateThresholds(min_pass_rate=95.0, min_coverage=80))
    again = decision_of(json.loads(json.dumps(codec.to_builtins(decision))))
    assert codec.to_builtins(again) == codec.to_builtins(decision)
    assert again.reasons == decision.reasons
