"""The gate's counting rules: reruns, flaky tests, matrices, skipped and zero tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines.readers.junit import identity_hash, read_junit
from pipelines.readers.reportlog import junit_identities, read_reportlog
from tests.unit.junit_samples import ERROR, FAIL, SKIP, case, suites

Write = Callable[[str, str | bytes], Path]


def test_plain_counts_and_pass_rate(write: Write) -> None:
    path = write(
        "j.xml",
        suites(
            case("a"), case("b"), case("c", body=FAIL), case("d", body=ERROR), case("e", body=SKIP)
        ),
    )
    summary = read_junit([path])
    assert (summary.passed, summary.failed, summary.errors, summary.skipped) == (2, 1, 1, 1)
    assert summary.executed == 4
    assert summary.pass_rate == 50.0
    assert [t.name for t in summary.failing] == ["c", "d"]
    assert summary.failing[0].message == "assert 1 == 2"


def test_rerunfailures_empty_records_are_not_passes(write: Write) -> None:
    # pytest-rerunfailures >= 16.6.1: one empty <testcase> per failed attempt, then the last.
    path = write(
        "j.xml",
        suites(
            case("test_flaky"),
            case("test_flaky"),
            case("test_fail"),
            case("test_fail"),
            case("test_fail", body=FAIL),
            case("test_ok"),
        ),
    )
    summary = read_junit([path])
    assert summary.records == 6
    assert (summary.passed, summary.failed, summary.flaky) == (2, 1, 1)
    assert summary.executed == 3
    assert [t.name for t in summary.flaky_tests] == ["test_flaky"]
    assert [t.name for t in summary.failing] == ["test_fail"]


def test_two_tests_sharing_a_name_never_hide_a_failure(write: Write) -> None:
    # unittest and nose can give two different tests one classname and name: records apart,
    # no rerun marker. The failing one counts, and the shared name is reported.
    path = write("j.xml", suites(case("a", body=FAIL), case("b"), case("a")))
    summary = read_junit([path])
    assert (summary.passed, summary.failed, summary.flaky) == (1, 1, 0)
    assert [t.name for t in summary.failing] == ["a"]
    assert summary.shared_names == ("tests.test_mod.a",)
    assert summary.shared_name_count == 1


def test_reruns_apart_that_the_report_log_names_are_reruns(write: Write) -> None:
    # Parallel workers interleave records: a rerun then need not be adjacent.
    path = write("j.xml", suites(case("a"), case("b"), case("a")))
    flaky = {identity_hash("tests.test_mod", "a")}
    summary = read_junit([path], flaky_ids=flaky)
    assert (summary.passed, summary.failed, summary.flaky) == (2, 0, 1)
    assert summary.shared_names == ()


def test_surefire_flaky_and_rerun_elements(write: Write) -> None:
    path = write(
        "surefire.xml",
        '<?xml version="1.0"?><testsuite name="x">'
        + case("flaky1", "com.Shop", '<flakyFailure message="boom"/>')
        + case("flaky2", "com.Shop", '<flakyError message="boom"/>')
        + case("broken", "com.Shop", '<failure message="x"/><rerunFailure message="x"/>')
        + case("healed", "com.Shop", '<rerunError message="x"/>')
        + "</testsuite>",
    )
    summary = read_junit([path])
    assert (summary.passed, summary.failed, summary.flaky) == (3, 1, 3)
    assert sorted(t.name for t in summary.flaky_tests) == ["flaky1", "flaky2", "healed"]


def test_matrix_fails_a_test_that_failed_in_any_report(write: Write) -> None:
    py311 = write("py311.xml", suites(case("a"), case("b"), case("c", body=SKIP)))
    py312 = write("py312.xml", suites(case("a"), case("b", body=FAIL), case("c")))
    summary = read_junit([py311, py312])
    assert (summary.passed, summary.failed, summary.skipped) == (2, 1, 0)
    assert summary.records == 6
    assert summary.sources == (str(py311), str(py312))


def test_the_same_test_in_two_reports_is_not_flaky(write: Write) -> None:
    first = write("a.xml", suites(case("a")))
    second = write("b.xml", suites(case("a")))
    assert read_junit([first, second]).flaky == 0


def test_identity_includes_the_file_where_present(write: Write) -> None:
    path = write("j.xml", suites(case("t", "C", file="a.py"), case("t", "C", file="b.py")))
    summary = read_junit([path])
    assert (summary.passed, summary.flaky) == (2, 0)


def test_all_skipped_means_nothing_executed(write: Write) -> None:
    summary = read_junit([write("j.xml", suites(case("a", body=SKIP), case("b", body=SKIP)))])
    assert summary.executed == 0
    assert summary.pass_rate is None
    assert summary.skipped == 2


def test_bare_nested_and_namespaced_documents(write: Write) -> None:
    bare = write("bare.xml", f'<testsuite name="x">{case("a")}{case("b", body=FAIL)}</testsuite>')
    nested = write(
        "nested.xml",
        f'<testsuites><testsuite name="outer"><testsuite name="inner">{case("c")}</testsuite>'
        f"{case('d')}</testsuite></testsuites>",
    )
    namespaced = write(
        "ns.xml",
        '<j:testsuites xmlns:j="urn:junit"><j:testsuite name="x">'
        '<j:testcase classname="k" name="e"><j:failure message="m"/></j:testcase>'
        '<j:testcase classname="k" name="f"/></j:testsuite></j:testsuites>',
    )
    assert read_junit([bare]).failed == 1
    assert read_junit([nested]).passed == 2
    summary = read_junit([namespaced])
    assert (summary.passed, summary.failed) == (1, 1)


def test_reportlog_reruns_mark_tests_flaky(write: Write) -> None:
    junit = write(
        "j.xml", suites(case("test_x", "tests.test_mod"), case("test_y", "tests.test_mod"))
    )
    record = '{"$report_type": "TestReport", "nodeid": "tests/test_mod.py::%s", '
    record += '"when": "call", "outcome": "%s"}'
    lines = [
        '{"$report_type": "SessionStart"}',
        record % ("test_x", "rerun"),
        record % ("test_x", "passed"),
        record % ("test_y", "passed"),
    ]
    log = write("log.jsonl", "\n".join(lines))
    reruns = read_reportlog(log)
    assert reruns.rerun_then_passed == {"tests/test_mod.py::test_x"}
    ids = {identity_hash(*i) for n in reruns.rerun_then_passed for i in junit_identities(n)}
    summary = read_junit([junit], flaky_ids=ids)
    assert (summary.passed, summary.flaky) == (2, 1)


def test_node_ids_map_to_pytest_junit_identities() -> None:
    assert junit_identities("tests/unit/test_a.py::TestX::test_y[1-2]") == [
        ("tests.unit.test_a.TestX", "test_y[1-2]", ""),
        ("tests.unit.test_a.TestX", "test_y[1-2]", "tests/unit/test_a.py"),
    ]


def test_failure_text_is_the_message_when_there_is_no_attribute(write: Write) -> None:
    long_trace = "E   assert 1 == 2\n" * 200
    path = write("j.xml", suites(case("a", body=f"<failure>{long_trace}</failure>")))
    failing = read_junit([path]).failing
    assert failing[0].message.startswith("E   assert 1 == 2")
    assert len(failing[0].message) <= 500


def test_many_failures_are_counted_and_a_bounded_number_named(write: Write) -> None:
    cases = [case(f"t{i:04d}", body=FAIL) for i in range(1500)]
    summary = read_junit([write("j.xml", suites(*cases))])
    assert summary.failed == 1500
    assert len(summary.failing) == 100
