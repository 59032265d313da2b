"""Hostile or broken reports never hang, exhaust memory or read local files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines import codec
from pipelines.cli import main
from pipelines.codec import DamagedFile
from pipelines.config.health import HttpProbe
from pipelines.errors import ReportError
from pipelines.health.probes import _body_problem
from pipelines.readers.coverage import read_coverage
from pipelines.readers.findings import read_sarif
from pipelines.readers.junit import read_junit
from pipelines.readers.reportlog import read_reportlog
from tests.unit.junit_samples import case, suites

Write = Callable[[str, str | bytes], Path]

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="&lol9;"><testcase classname="a" name="&lol9;"/></testsuite>
"""


def xxe(secret: Path) -> str:
    return (
        f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<testsuite><testcase classname="a" name="b"><failure message="&xxe;">&xxe;</failure>'
        "</testcase></testsuite>"
    )


def test_billion_laughs_is_refused(write: Write) -> None:
    with pytest.raises(ReportError, match="declares a DTD"):
        read_junit([write("bomb.xml", BILLION_LAUGHS)])


def test_external_entities_are_never_read(write: Write, tmp_path: Path) -> None:
    secret = write("secret.txt", "TOP-SECRET-VALUE")
    path = write("xxe.xml", xxe(secret))
    with pytest.raises(ReportError) as caught:
        read_junit([path])
    assert "declares a DTD" in caught.value.message
    assert "TOP-SECRET-VALUE" not in caught.value.message


def test_a_doctype_after_a_long_prolog_is_still_found(write: Write, tmp_path: Path) -> None:
    secret = write("secret.txt", "TOP-SECRET-VALUE")
    comment = "<!--" + "x" * 200_000 + "-->"
    text = xxe(secret).replace('<?xml version="1.0"?>', '<?xml version="1.0"?>' + comment)
    with pytest.raises(ReportError, match="declares a DTD"):
        read_junit([write("xxe.xml", text)])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (suites(case("a"), case("b"))[:-30], "is not well-formed XML"),
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (
            b'<?xml version="1.0" encoding="utf-8"?><testsuite>'
            b'<testcase classname="a" name="caf\xe9"/></testsuite>',
            "is not well-formed XML",
        ),
        ('<?xml version="1.0"?><testsuites><testsuite name="x"/></testsuites>', "no <testcase>"),
        ('<?xml version="1.0"?><html><testcase classname="a" name="b"/></html>', "has root <html>"),
        ("not xml at all", "is not well-formed XML"),
    ],
    ids=["truncated", "empty", "blank", "non-utf8", "no-testcase", "wrong-root", "text"],
)
def test_broken_junit_gets_one_line_naming_the_file(
    write: Write, content: str | bytes, reason: str
) -> None:
    path = write("broken.xml", content)
    with pytest.raises(ReportError) as caught:
        read_junit([path])
    assert caught.value.path == str(path)
    assert reason in caught.value.message
    assert "\n" not in caught.value.message


def test_huge_system_out_is_handled(write: Write) -> None:
    noise = "x" * (11 * 1024 * 1024)
    body = f"<system-out>{noise}</system-out>"
    path = write("huge.xml", suites(case("a", body=body), case("b")))
    summary = read_junit([path])
    assert (summary.passed, summary.failed) == (2, 0)


def test_latin1_declared_documents_are_read(write: Write) -> None:
    content = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><testsuite>'
        '<testcase classname="a" name="caf\xe9"/></testsuite>'
    ).encode("latin-1")
    assert read_junit([write("latin.xml", content)]).passed == 1


def test_broken_coverage_and_reportlog(write: Write) -> None:
    with pytest.raises(ReportError, match="declares a DTD"):
        read_coverage(write("c.xml", BILLION_LAUGHS))
    with pytest.raises(ReportError, match="no 'lines-valid'"):
        read_coverage(write("c2.xml", '<coverage lines-covered="3"/>'))
    with pytest.raises(ReportError, match="expected Cobertura"):
        read_coverage(write("c3.xml", "<report/>"))
    with pytest.raises(ReportError, match=r"log.jsonl:2: is not a JSON record"):
        read_reportlog(write("log.jsonl", '{"$report_type": "SessionStart"}\n{broken\n'))


def test_cobertura_counts_not_rates(write: Write) -> None:
    path = write(
        "c.xml",
        '<coverage line-rate="0.99" lines-covered="45" lines-valid="60" '
        'branches-covered="3" branches-valid="12"/>',
    )
    coverage = read_coverage(path)
    assert coverage.percent("line") == 75.0
    assert coverage.percent("branch") == 25.0


@pytest.mark.parametrize(
    "content",
    [BILLION_LAUGHS, "", suites(case("a"))[:-20], '<testsuites><testsuite name="x"/></testsuites>'],
    ids=["bomb", "empty", "truncated", "no-testcase"],
)
def test_gate_closes_with_exit_1_on_a_bad_report(
    write: Write, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = write("bad.xml", content)
    code = main(["gate", "-C", str(tmp_path), "--junit", str(path), "--json"])
    assert code == 1
    out = capsys.readouterr().out
    assert '"status": "closed"' in out
    assert str(path) in out
    assert (tmp_path / "reports" / "gate" / "decision.json").is_file()


def test_gate_with_a_missing_report_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["gate", "-C", str(tmp_path), "--junit", str(tmp_path / "nope.xml")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.xml: no such report file" in err
    assert "Traceback" not in err


def test_coverage_above_100_percent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "coverage.xml"
    path.write_text('<coverage lines-covered="200" lines-valid="100"/>')
    with pytest.raises(ReportError, match="claims 200 lines covered of 100"):
        read_coverage(path)


NESTED = "[" * 200_000 + "]" * 200_000


def test_deeply_nested_json_reports_and_answers_are_refused_not_crashed(write: Write) -> None:
    with pytest.raises(ReportError, match="is not a JSON record"):
        read_reportlog(write("report-log.jsonl", NESTED + "\n"))
    with pytest.raises(ReportError, match="is not a readable SARIF JSON file"):
        read_sarif(write("security.sarif", NESTED))
    # A deployed instance's health answer is code under test too.
    probe = HttpProbe(url="http://127.0.0.1:1/healthz", json_path="status")
    assert _body_problem(probe, NESTED) == "no JSON field 'status'"


def test_a_sarif_file_past_its_limit_is_refused_not_loaded(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pipelines.readers.findings.MAX_SARIF_BYTES", 1000)
    log = '{"version": "2.1.0", "runs": [], "padding": "' + "x" * 2000 + '"}'
    with pytest.raises(ReportError, match="is larger than 1000 bytes"):
        read_sarif(write("security.sarif", log))


def test_any_declared_file_nested_too_deeply_is_a_damaged_file() -> None:
    # Where a declared type holds free-form JSON (details, evidence), the decoder recurses.
    with pytest.raises(DamagedFile, match=r"result\.json: cannot be read as .*nested too deeply"):
        codec.decode('{"details": ' + NESTED + "}", dict[str, Any], "result.json")
