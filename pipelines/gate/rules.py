"""The deployment gate's rules: pure functions from measured evidence and thresholds to a decision.

No file is read here; `stages.gate` gathers the evidence from the reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec
from msgspec import UNSET, UnsetType

from pipelines import codec
from pipelines.config.pipeline import GateThresholds
from pipelines.readers.coverage import Coverage
from pipelines.readers.junit import TestSummary
from pipelines.severity import LIMITED
from pipelines.source_tree import TreeState


class Verdict(StrEnum):
    """How one rule judged its measurement."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    WARN = "warn"  # allowed by policy, but worth a look
    INFO = "info"  # measured, no threshold configured


# What to do about a decision file that cannot be read.
REDECIDE = "run the pipeline (or `pipelines gate`) again"


class GateStatus(StrEnum):
    """Whether a deploy may proceed."""

    OPEN = "open"
    CLOSED = "closed"


class RuleResult(msgspec.Struct, frozen=True):
    """One rule: what was measured, against which threshold, and the verdict."""

    name: str
    measured: float | int | str | None
    threshold: float | int | str | None
    comparison: str
    verdict: Verdict
    detail: str = ""


@dataclass(frozen=True)
class Evidence:
    """Everything the gate judges, already read from the reports."""

    tests: TestSummary | None = None
    coverage: Coverage | None = None
    findings: Mapping[str, int] | None = None  # count by severity; None = not scanned
    security_expected: bool = True
    unchecked_scanners: Mapping[str, str] = field(default_factory=dict)  # scanner -> reason
    problems: tuple[str, ...] = ()  # unreadable or missing reports, one line each
    health_expected: bool = False
    health_failures: tuple[str, ...] | None = None  # critical checks that failed; None = no report
    slowdowns: Mapping[str, float] | None = None  # benchmark -> % slower; None = not compared


class GateDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The gate's outcome with every rule that led to it, and the measurements it judged:
    decision.json is this type. ``reasons`` is computed from the rules (kept in the file for
    people and CI logs; recomputed on reading)."""

    env: str
    status: GateStatus
    reasons: list[str] = []
    rules: tuple[RuleResult, ...] = ()
    tests: TestSummary | None = None
    coverage: Coverage | None = None
    findings: dict[str, int] | None = None  # count by severity; {} scanned, None not scanned
    unchecked_scanners: dict[str, str] = {}  # scanner -> reason
    problems: tuple[str, ...] = ()  # unreadable or missing reports, one line each
    slowdowns: dict[str, float] | None = None  # benchmark -> % slower; None = not compared
    # The commit and tree the decision judged; left out of decisions made before it was kept
    # (and of a decision not yet bound to one).
    bound: TreeState | UnsetType = msgspec.field(default=UNSET, name="release")

    def __post_init__(self) -> None:
        reasons = [_reason(rule) for rule in self.rules if rule.verdict is Verdict.FAIL]
        msgspec.structs.force_setattr(self, "reasons", reasons)

    @classmethod
    def judged(
        cls, env: str, status: GateStatus, rules: tuple[RuleResult, ...], evidence: Evidence
    ) -> GateDecision:
        """The decision on ``evidence`` (what it records of it)."""
        return cls(
            env=env,
            status=status,
            rules=rules,
            tests=evidence.tests,
            coverage=evidence.coverage,
            findings=None if evidence.findings is None else dict(evidence.findings),
            unchecked_scanners=dict(evidence.unchecked_scanners),
            problems=evidence.problems,
            slowdowns=None if evidence.slowdowns is None else dict(evidence.slowdowns),
        )

    @property
    def release(self) -> TreeState | None:
        """The commit and tree the decision judged (None in decisions from before it was kept)."""
        return None if isinstance(self.bound, UnsetType) else self.bound

    def bound_to(self, release: TreeState) -> GateDecision:
        """The same decision, bound to the commit and tree it judged."""
        return msgspec.structs.replace(self, bound=release)

    @property
    def evidence(self) -> Evidence:
        """The measurements the decision records, as the gate's evidence."""
        return Evidence(
            tests=self.tests,
            coverage=self.coverage,
            findings=self.findings,
            unchecked_scanners=self.unchecked_scanners,
            problems=self.problems,
            slowdowns=self.slowdowns,
        )


def decision_of(data: object, where: str = "the gate decision") -> GateDecision:
    """A decision from its JSON form (already parsed); DamagedFile naming ``where`` and the
    key when it is not one."""
    return codec.convert(data, GateDecision, where, hint=REDECIDE)


def _reason(rule: RuleResult) -> str:
    if rule.detail:
        return f"{rule.name}: {rule.detail}"
    measured, threshold = _fmt(rule.measured), _fmt(rule.threshold)
    return f"{rule.name}: measured {measured}, required {rule.comparison} {threshold}"


def _fmt(value: float | int | str | None) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "none" if value is None else str(value)


def _compare(
    name: str, measured: float | int, threshold: float | int | None, comparison: str
) -> RuleResult:
    if threshold is None:
        return RuleResult(name, measured, None, comparison, Verdict.INFO, "no threshold configured")
    ok = measured >= threshold if comparison == ">=" else measured <= threshold
    return RuleResult(name, measured, threshold, comparison, Verdict.PASS if ok else Verdict.FAIL)


def evaluate(env: str, evidence: Evidence, thresholds: GateThresholds) -> GateDecision:
    """Apply every rule of ``thresholds`` to ``evidence``."""
    rules = [
        _reports_rule(evidence),
        *_test_rules(evidence.tests, thresholds),
        _coverage_rule(evidence.coverage, thresholds),
        *_security_rules(evidence, thresholds),
        *_health_rules(evidence),
        *_performance_rules(evidence, thresholds),
    ]
    failed = any(rule.verdict is Verdict.FAIL for rule in rules)
    status = GateStatus.CLOSED if failed else GateStatus.OPEN
    return GateDecision.judged(env, status, tuple(rules), evidence)


def _reports_rule(evidence: Evidence) -> RuleResult:
    count = len(evidence.problems)
    if count:
        return RuleResult(
            "reports_readable", count, 0, "<=", Verdict.FAIL, "; ".join(evidence.problems)
        )
    return RuleResult("reports_readable", 0, 0, "<=", Verdict.PASS)


def _test_rules(tests: TestSummary | None, thresholds: GateThresholds) -> list[RuleResult]:
    if tests is None:
        return [RuleResult("tests_executed", 0, 1, ">=", Verdict.FAIL, "no test report was read")]
    executed = RuleResult("tests_executed", tests.executed, 1, ">=", Verdict.PASS)
    if tests.executed == 0:
        # Zero executed tests is not a 100% pass rate: nothing was verified.
        executed = RuleResult(
            "tests_executed", 0, 1, ">=", Verdict.FAIL, "no test was executed (all skipped?)"
        )
        rate = RuleResult(
            "pass_rate",
            None,
            thresholds.min_pass_rate,
            ">=",
            Verdict.FAIL,
            "no pass rate without executed tests",
        )
    else:
        rate = _compare(
            "pass_rate", round(tests.pass_rate or 0.0, 4), thresholds.min_pass_rate, ">="
        )
    flaky = _compare("flaky_tests", tests.flaky, thresholds.max_flaky, "<=")
    rules = [executed, rate, flaky]
    failing = tests.failed + tests.errors
    if failing:
        # The pass rate may allow a few failures; "gate open" must never read as "all passed".
        names = ", ".join(t.title for t in tests.failing)
        more = f" and {failing - len(tests.failing)} more" if failing > len(tests.failing) else ""
        rules.append(
            RuleResult("tests_failing", failing, 0, "<=", Verdict.WARN, f"failing: {names}{more}")
        )
    if tests.shared_name_count:
        # The worst of them already counts; the report cannot say which test is which.
        rules.append(
            RuleResult(
                "test_names_unique",
                tests.shared_name_count,
                0,
                "<=",
                Verdict.WARN,
                "several tests share the name " + ", ".join(tests.shared_names),
            )
        )
    return rules


def _coverage_rule(coverage: Coverage | None, thresholds: GateThresholds) -> RuleResult:
    name = f"{thresholds.coverage_metric}_coverage"
    if coverage is None:
        if thresholds.min_coverage is None:
            return RuleResult(name, None, None, ">=", Verdict.INFO, "no coverage report")
        return RuleResult(
            name, None, thresholds.min_coverage, ">=", Verdict.FAIL, "no coverage report was read"
        )
    percent = coverage.percent(thresholds.coverage_metric)
    if percent is None:
        verdict = Verdict.INFO if thresholds.min_coverage is None else Verdict.FAIL
        return RuleResult(
            name,
            None,
            thresholds.min_coverage,
            ">=",
            verdict,
            f"the report has no measurable {thresholds.coverage_metric}s",
        )
    return _compare(name, round(percent, 4), thresholds.min_coverage, ">=")


def _security_rules(evidence: Evidence, thresholds: GateThresholds) -> list[RuleResult]:
    if not evidence.security_expected:
        return [
            RuleResult(
                "security_scanned",
                "disabled",
                None,
                "==",
                Verdict.INFO,
                "the security stage is disabled",
            )
        ]
    if evidence.findings is None:
        return [
            RuleResult(
                "security_scanned", "no", "yes", "==", Verdict.FAIL, "no security report was read"
            )
        ]
    # Every severity appears in the decision: a limit judges it, no limit reports it.
    rules = [
        _compare(
            f"{severity.value}_findings",
            evidence.findings.get(severity.value, 0),
            thresholds.max_findings.get(severity),
            "<=",
        )
        for severity in LIMITED
    ]
    unchecked = len(evidence.unchecked_scanners)
    detail = "; ".join(f"{k}: {v}" for k, v in sorted(evidence.unchecked_scanners.items()))
    if unchecked == 0:
        rules.append(RuleResult("scanners_checked", 0, 0, "<=", Verdict.PASS))
    else:
        # A scanner that could not run is never a pass; policy decides if it blocks.
        verdict = Verdict.WARN if thresholds.allow_unchecked_scanners else Verdict.FAIL
        rules.append(
            RuleResult("scanners_checked", unchecked, 0, "<=", verdict, f"not checked: {detail}")
        )
    return rules


def _health_rules(evidence: Evidence) -> list[RuleResult]:
    if not evidence.health_expected:
        return []
    failures = evidence.health_failures
    if failures is None:
        return [
            RuleResult("health_checks", None, 0, "<=", Verdict.FAIL, "no health report was read")
        ]
    if failures:
        return [
            RuleResult(
                "health_checks",
                len(failures),
                0,
                "<=",
                Verdict.FAIL,
                "critical checks failing: " + ", ".join(failures),
            )
        ]
    return [RuleResult("health_checks", 0, 0, "<=", Verdict.PASS)]


def _performance_rules(evidence: Evidence, thresholds: GateThresholds) -> list[RuleResult]:
    slowdowns = evidence.slowdowns
    if slowdowns is None:
        return []
    worst = max(slowdowns.values(), default=0.0)
    slowest = max(slowdowns, key=lambda name: slowdowns[name]) if slowdowns else ""
    detail = f"slowest: {slowest} (+{worst:.1f}%)" if slowest else ""
    rule = _compare("performance", worst, thresholds.max_slowdown, "<=")
    return [
        RuleResult(
            rule.name, rule.measured, rule.threshold, "<=", rule.verdict, rule.detail or detail
        )
    ]
