"""Streaming, rerun- and flaky-aware JUnit XML reading.

Counting rules (docs/gate.md):
- one logical test is one identity: classname + name, plus file where the report has it;
- within one report the last record of a test wins (pytest-rerunfailures >= 16.6.1 writes an
  empty ``<testcase>`` per failed attempt, before the final one);
- a test recorded more than once in a report whose final record passed is flaky, and so is one
  carrying Surefire/Gradle ``flakyFailure``/``flakyError``/``rerunFailure``/``rerunError``;
- across reports (a matrix) a test fails if any report's final result failed.

Memory stays flat: records are kept as 64-bit identity hashes in 256 arrays, and each bucket
is resolved on its own at the end. Names are kept only for the few tests a report must list.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

import msgspec

from pipelines.errors import ReportError
from pipelines.readers.safexml import feed_file

BUCKETS = 256
DETAIL_LIMIT = 100
_INTERESTING_LIMIT = 20 * DETAIL_LIMIT
_MESSAGE_LIMIT = 500


class Outcome(StrEnum):
    """Final outcome of a logical test; a later one (``RANK``) wins when reports are merged."""

    SKIPPED = "skipped"
    XFAILED = "xfailed"  # an expected failure (pytest's xfail): not run to a verdict, not skipped
    PASSED = "passed"
    FLAKY = "flaky"
    ERROR = "error"
    FAILED = "failed"


# Outcomes in the order they win a merge; the reader works on these ranks (plain ints).
BY_RANK = tuple(Outcome)
RANK = {outcome: rank for rank, outcome in enumerate(BY_RANK)}
_CHILD_OUTCOMES = {"failure": Outcome.FAILED, "error": Outcome.ERROR, "skipped": Outcome.SKIPPED}
_FLAKY_MARKERS = frozenset({"flakyFailure", "flakyError", "rerunFailure", "rerunError"})


class TestCase(msgspec.Struct, frozen=True):
    """A test a report names: its identity, final outcome and (for failures) message. A file
    that leaves the outcome out names a failing test (the only kind older files listed)."""

    __test__: ClassVar[bool] = False  # not a pytest test class, whatever its name

    classname: str
    name: str
    file: str = ""
    outcome: Outcome = Outcome.FAILED
    message: str = ""

    @property
    def title(self) -> str:
        """``classname.name``, the way CI systems show a test."""
        return f"{self.classname}.{self.name}" if self.classname else self.name


class TestSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Counts over logical tests, plus the failing and flaky tests by name (bounded).
    ``executed`` and ``pass_rate`` are computed from the counts (and kept in the file for
    people and other tools; what a file says for them is recomputed on reading)."""

    __test__: ClassVar[bool] = False  # not a pytest test class, whatever its name

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    flaky: int = 0
    # Tests that ran to a verdict: passed (flaky included), failed and errors.
    executed: int = 0
    records: int = 0
    # Percentage of executed tests that passed; None when nothing executed.
    pass_rate: float | None = None
    sources: tuple[str, ...] = ()
    failing: tuple[TestCase, ...] = ()
    flaky_tests: tuple[TestCase, ...] = ()
    # Identities recorded apart more than once that are not reruns: several tests share the
    # name (classname + name), so the report cannot tell them apart.
    shared_names: tuple[str, ...] = ()
    shared_name_count: int = 0

    def __post_init__(self) -> None:
        executed = self.passed + self.failed + self.errors
        msgspec.structs.force_setattr(self, "executed", executed)
        rate = 100.0 * self.passed / executed if executed else None
        msgspec.structs.force_setattr(self, "pass_rate", rate)


def identity_hash(classname: str, name: str, file: str = "") -> int:
    """The identity of a logical test within this process (stable for one run only)."""
    # A string, not a tuple: strings are not tracked by the garbage collector, and a million
    # short-lived tuples would trigger thousands of collections. XML forbids NUL in names.
    return hash(f"{classname}\0{name}\0{file}")


# Plain ints in the hot path: IntEnum arithmetic and comparisons cost a Python call each.
_SKIPPED, _XFAILED, _PASSED, _FLAKY, _ERROR, _FAILED = range(len(BY_RANK))
_CHILD_INTS = {tag: RANK[outcome] for tag, outcome in _CHILD_OUTCOMES.items()}
_MASK = BUCKETS - 1
_DETAILS_KEPT = 10 * DETAIL_LIMIT


@dataclass
class _FileRecords:
    """Every record of one report, as hash/outcome pairs split into buckets."""

    path: Path
    hashes: list[array[int]] = field(default_factory=lambda: [array("q") for _ in range(BUCKETS)])
    outcomes: list[array[int]] = field(default_factory=lambda: [array("b") for _ in range(BUCKETS)])
    # 1 where a record directly follows a record of the same test in the document (a rerun).
    follows: list[array[int]] = field(default_factory=lambda: [array("b") for _ in range(BUCKETS)])
    count: int = 0
    # Tests recorded twice in a row (how reruns are written), per bucket, and their hashes.
    adjacent_repeats: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    repeated: set[int] = field(default_factory=set)
    # Names seen for failing or rerun records, bounded; the last record of a test wins.
    details: dict[int, TestCase] = field(default_factory=dict)


class _CaseReader:
    """Parser target that turns each ``<testcase>`` into identity, outcome and message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = ""
        self.in_case = False
        self.classname = self.name = self.file = ""
        self.outcome = _PASSED
        self.message = ""
        self.collect_text = False
        self.text: list[str] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        """An element opens."""
        if tag != "testcase":
            tag = tag.rpartition("}")[2]  # namespaced documents
        if not self.root:
            self.root = tag
        if tag == "testcase":
            self.in_case = True
            self.classname = attrib.get("classname", "")
            self.name = attrib.get("name", "")
            self.file = attrib.get("file", "")
            self.outcome = _PASSED
            self.message = ""
        elif self.in_case:
            found = _CHILD_INTS.get(tag)
            if found == _SKIPPED and attrib.get("type") == "pytest.xfail":
                found = _XFAILED
            if found is not None:
                if self.outcome == _PASSED or found > self.outcome:
                    self.outcome = found
                    self.message = attrib.get("message", "")
                    self.collect_text = not self.message
                    self.text = []
            elif tag in _FLAKY_MARKERS and self.outcome == _PASSED:
                self.outcome = _FLAKY

    def data(self, text: str) -> None:
        """Text arrives; kept only for a failure without a message attribute, and bounded."""
        if self.collect_text and sum(map(len, self.text)) < _MESSAGE_LIMIT:
            self.text.append(text)

    def end(self, tag: str) -> None:
        """An element closes."""
        if tag != "testcase":
            tag = tag.rpartition("}")[2]
            if tag in _CHILD_INTS:
                self.collect_text = False
                return
            if tag != "testcase":
                return
        self.in_case = False
        if not self.message and self.text:
            self.message = "".join(self.text).strip()
        self.case(self.classname, self.name, self.file, self.outcome, self.message)

    def close(self) -> None:
        """The document ended (what it held is checked by the caller)."""

    def case(self, classname: str, name: str, file: str, outcome: int, message: str) -> None:
        """One test case was read completely."""
        raise NotImplementedError


class _RecordReader(_CaseReader):
    """Keeps every record as a hash in its bucket, and names only where a report needs them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.records = _FileRecords(path)
        # Bound methods, looked up once: case() runs once per test case.
        self.add_hash = [bucket.append for bucket in self.records.hashes]
        self.add_outcome = [bucket.append for bucket in self.records.outcomes]
        self.add_follows = [bucket.append for bucket in self.records.follows]
        self.previous_hash: int | None = None

    def case(self, classname: str, name: str, file: str, outcome: int, message: str) -> None:
        key = hash(f"{classname}\0{name}\0{file}")  # identity_hash, inlined
        bucket = key & _MASK
        self.add_hash[bucket](key)
        self.add_outcome[bucket](outcome)
        repeat = key == self.previous_hash
        self.add_follows[bucket](repeat)
        self.previous_hash = key
        records = self.records
        if repeat:
            records.adjacent_repeats[bucket] += 1
            records.repeated.add(key)
        elif outcome < _FLAKY:
            return
        # Failures, flaky markers and adjacent repeats (how reruns are written) get names.
        if len(records.details) < _DETAILS_KEPT:
            records.details[key] = TestCase(
                classname, name, file, BY_RANK[outcome], message[:_MESSAGE_LIMIT]
            )


def _read_records(path: Path) -> _FileRecords:
    reader = _RecordReader(path)
    feed_file(path, reader)
    if reader.root not in ("testsuites", "testsuite"):
        expected = "expected <testsuites> or <testsuite>"
        raise ReportError(str(path), f"has root <{reader.root or 'nothing'}>, {expected}")
    records = reader.records
    records.count = sum(len(bucket) for bucket in records.hashes)
    if records.count == 0:
        raise ReportError(str(path), "contains no <testcase> elements", hint="did the tests run?")
    return records


class _NameFinder(_CaseReader):
    """Second pass: the names of a few tests known only by their hash."""

    def __init__(self, path: Path, wanted: set[int], found: dict[int, TestCase]) -> None:
        super().__init__(path)
        self.wanted, self.found = wanted, found

    def case(self, classname: str, name: str, file: str, outcome: int, message: str) -> None:
        key = identity_hash(classname, name, file)
        if key in self.wanted:
            self.found[key] = TestCase(classname, name, file, Outcome.PASSED)


def _final_outcomes(
    records: _FileRecords, bucket: int, reruns: set[int]
) -> tuple[dict[int, int], set[int], set[int]]:
    """Last record wins; a test recorded several times in a row whose last record passed is
    flaky. Returns the outcomes, the tests found flaky this way, and the identities that name
    several different tests (repeated apart, not reruns).
    """
    hashes = records.hashes[bucket]
    final = dict(zip(hashes, records.outcomes[bucket], strict=True))
    duplicates = len(hashes) - len(final)
    if not duplicates:
        return final, set(), set()
    if duplicates == records.adjacent_repeats[bucket]:
        # Every repeat was adjacent (the usual rerun layout): no need to walk them all.
        repeats = records.repeated.intersection(final)
        flaky = {key for key in repeats if final[key] == _PASSED}
        for key in flaky:
            final[key] = _FLAKY
        return final, flaky, set()
    return _runs_of_records(hashes, records.outcomes[bucket], records.follows[bucket], reruns)


def _runs_of_records(
    hashes: Sequence[int], outcomes: Sequence[int], follows: Sequence[int], reruns: set[int]
) -> tuple[dict[int, int], set[int], set[int]]:
    """Some repeats are apart: a run of adjacent records is one test and its reruns (its last
    record counts); several runs of one identity are several tests sharing a name (unittest,
    nose), and the worst of them counts, so a failure is never hidden behind a pass. Reruns
    that a report log names may be apart too (parallel workers): they are not duplicates."""
    worst: dict[int, int] = {}
    runs: Counter[int] = Counter()
    index, count = 0, len(hashes)
    while index < count:
        key, end = hashes[index], index + 1
        while end < count and follows[end]:
            end += 1
        outcome = outcomes[end - 1]
        if end - index > 1 and outcome == _PASSED:
            outcome = _FLAKY
        worst[key] = max(worst.get(key, -1), outcome)
        runs[key] += 1
        index = end
    flaky = {key for key, outcome in worst.items() if outcome == _FLAKY}
    shared = {key for key, n in runs.items() if n > 1 and key not in reruns}
    return worst, flaky, shared


def read_junit(
    paths: Sequence[Path], *, flaky_ids: Iterable[int] = (), rerun_ids: Iterable[int] = ()
) -> TestSummary:
    """Merge JUnit reports into one summary of logical tests.

    ``flaky_ids`` are identity hashes known to have been rerun and then passed (from
    pytest-reportlog); a passing test among them counts as flaky. ``rerun_ids`` are all the
    tests the log saw rerun: their records apart are reruns, not tests sharing a name.
    """
    files = [_read_records(path) for path in paths]
    rerun_passed = set(flaky_ids)
    reruns = rerun_passed | set(rerun_ids)
    totals: Counter[int] = Counter()
    # Tests a report may need to name: those seen failing or repeated, and reruns from the log.
    candidates: list[set[int]] = [set() for _ in range(BUCKETS)]
    for key in rerun_passed.union(*(f.details for f in files)):
        candidates[key & (BUCKETS - 1)].add(key)
    interesting: dict[int, Outcome] = {}
    shared_names: set[int] = set()
    for bucket in range(BUCKETS):
        merged: dict[int, int] = {}
        for records in files:
            final, flaky, shared = _final_outcomes(records, bucket, reruns)
            candidates[bucket] |= flaky | shared
            shared_names |= shared
            if len(files) == 1:
                merged = final
                break
            for key, outcome in final.items():
                if outcome > merged.get(key, -1):
                    merged[key] = outcome
        for key in rerun_passed.intersection(merged):
            if merged[key] == _PASSED:
                merged[key] = _FLAKY
        totals.update(Counter(merged.values()))
        if len(interesting) < _INTERESTING_LIMIT:
            for key in candidates[bucket].intersection(merged):
                if merged[key] >= _FLAKY:
                    interesting[key] = BY_RANK[merged[key]]
    failing, flaky_tests = _name_tests(files, interesting)
    return TestSummary(
        passed=totals[_PASSED] + totals[_FLAKY],
        failed=totals[_FAILED],
        errors=totals[_ERROR],
        skipped=totals[_SKIPPED],
        xfailed=totals[_XFAILED],
        flaky=totals[_FLAKY],
        records=sum(f.count for f in files),
        sources=tuple(str(f.path) for f in files),
        failing=failing,
        flaky_tests=flaky_tests,
        shared_names=_shared_names(files, shared_names),
        shared_name_count=len(shared_names),
    )


def _shared_names(files: Sequence[_FileRecords], keys: set[int]) -> tuple[str, ...]:
    """The titles of identities that name several tests (a few, looked up by a second pass)."""
    if not keys:
        return ()
    wanted = set(sorted(keys)[:DETAIL_LIMIT])
    return tuple(sorted(case.title for case in _find_names(files, wanted).values()))


def _name_tests(
    files: Sequence[_FileRecords], interesting: dict[int, Outcome]
) -> tuple[tuple[TestCase, ...], tuple[TestCase, ...]]:
    named: dict[int, TestCase] = {}
    for records in files:
        for key, case in records.details.items():
            if key in interesting and (
                key not in named or RANK[case.outcome] >= RANK[named[key].outcome]
            ):
                named[key] = case
    missing: set[int] = set()
    for is_flaky in (True, False):
        group = [k for k, o in interesting.items() if (o == Outcome.FLAKY) == is_flaky]
        have = sum(1 for k in group if k in named)
        if have < min(DETAIL_LIMIT, len(group)):
            missing.update([k for k in group if k not in named][: DETAIL_LIMIT - have])
    if missing:
        # Repeats that were not adjacent, or more failures than were kept by name: look the
        # names up with a second pass, which typical reports never need.
        named.update(_find_names(files, missing))
    finals = sorted(
        (
            TestCase(case.classname, case.name, case.file, interesting[key], case.message)
            for key, case in named.items()
            if key in interesting
        ),
        key=lambda t: (t.file, t.classname, t.name),
    )
    failing = [t for t in finals if RANK[t.outcome] >= RANK[Outcome.ERROR]][:DETAIL_LIMIT]
    flaky = [t for t in finals if t.outcome == Outcome.FLAKY][:DETAIL_LIMIT]
    return tuple(failing), tuple(flaky)


def _find_names(files: Sequence[_FileRecords], wanted: set[int]) -> dict[int, TestCase]:
    found: dict[int, TestCase] = {}
    for records in files:
        feed_file(records.path, _NameFinder(records.path, wanted, found))
    return found
