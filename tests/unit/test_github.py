"""GitHub Actions output: job summary, at most ten annotations, step outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.config.pipeline import GateThresholds
from pipelines.errors import UsageError
from pipelines.gate.rules import Evidence, GateStatus, Verdict, decision_of, evaluate
from pipelines.readers.junit import Outcome, TestCase, TestSummary
from pipelines.report import github
from tests.pipeline_files import ONLY_OWN_STAGES


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
    assert github.publish(decision_of(decision(3)), {}) == []


def test_summary_outputs_and_annotations(tmp_path: Path) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    lines = github.publish(decision_of(decision(12)), env)
    # GitHub shows 10 errors of a step: the rest is counted in one notice.
    assert [line.split(" ")[0] for line in lines] == ["::error"] * 10 + ["::notice"]
    assert lines[-1] == "::notice title=more::3 more annotations: see the job summary"
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
    lines = github.publish(decision_of(open_with_failures), env)
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
        github.publish(decision_of(decision(1)), env)


FORGED = "::set-output name=gate::open"


def test_values_are_escaped_as_github_documents() -> None:
    annotation = github.Annotation(
        "error", "50% lost\r\nnext", "a:b,c", file="tests/a,b:c.py", line=7
    )
    assert annotation.command() == (
        "::error file=tests/a%2Cb%3Ac.py,line=7,title=a%3Ab%2Cc::50%25 lost%0D%0Anext"
    )
    # A message can never end the command early or start another line.
    assert "\n" not in github.Annotation("warning", f"x\n{FORGED}").command()


def test_at_most_ten_errors_and_ten_warnings_then_one_notice() -> None:
    many = [github.Annotation("error", f"e{i}") for i in range(12)]
    many += [github.Annotation("warning", f"w{i}") for i in range(11)]
    lines = github.capped(many)
    assert sum(line.startswith("::error") for line in lines) == 10
    assert sum(line.startswith("::warning") for line in lines) == 10
    assert lines[-1] == "::notice title=more::3 more annotations: see the job summary"


def test_a_failing_test_without_a_file_gets_it_from_its_id() -> None:
    case = TestCase("tests.unit.test_shop.TestCart", "test_total", "", Outcome.FAILED)
    assert github.test_file(case) == "tests/unit/test_shop.py"
    assert github.test_file(TestCase("weird id!", "t", "", Outcome.FAILED)) == ""


def write_reports(project: Path) -> None:
    """A closed gate and a finding whose text tries to start workflow commands."""
    data = decision(1)
    data["tests"]["failing"][0].update(name=f"test_x{FORGED}", message=f"boom\n{FORGED}")
    data["tests"]["failing"][0]["file"] = ""
    (project / "reports" / "gate").mkdir(parents=True)
    (project / "reports" / "gate" / "decision.json").write_text(json.dumps(data))
    finding = {
        "tool": "bandit",
        "rule": "B105",
        "severity": "high",
        "message": "::stop-commands::guessed\npassword",
        "file": "app/db.py",
        "line": 12,
    }
    result = {
        "stage": "security",
        "status": "passed",
        "summary": "1 finding(s)",
        "details": {},
        "findings": [finding],
    }
    (project / "reports" / "security").mkdir(parents=True)
    (project / "reports" / "security" / "result.json").write_text(json.dumps(result))


def commands_outside_the_guard(out: str) -> list[str]:
    """The lines GitHub reads as workflow commands: before the first ::stop-commands::, and
    after its token comes back."""
    lines = out.splitlines()
    assert lines[0].startswith("::stop-commands::")
    token = lines[0].removeprefix("::stop-commands::")
    assert len(token) == 32
    end = lines.index(f"::{token}::")
    return [line for line in lines[end + 1 :] if line.lstrip().startswith("::")]


def test_report_github_prints_only_our_annotations_after_the_guard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_reports(tmp_path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["report", "github", "-C", str(tmp_path)]) == 0
    commands = commands_outside_the_guard(capsys.readouterr().out)
    assert [line.split("::")[1].split(" ")[0] for line in commands] == ["error"] * 3
    test, gate, finding = commands
    assert test.startswith("::error file=tests/test_a.py,title=tests.test_a.test_x%3A%3Aset-output")
    assert test.endswith("::boom%0A::set-output name=gate::open")
    assert gate == "::error title=gate::pass_rate: measured 80.00, required >= 95.00"
    assert finding == (
        "::error file=app/db.py,line=12,title=bandit B105::::stop-commands::guessed%0Apassword"
    )


def test_run_under_github_actions_prints_its_annotations_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run whose reports end with a closed gate (written by a stage of the run itself).
    source = tmp_path / "decision.json"
    write_reports(tmp_path)
    (tmp_path / "reports" / "gate" / "decision.json").rename(source)
    copy = (
        "import pathlib, shutil; pathlib.Path('reports/gate').mkdir(exist_ok=True); "
        "shutil.copy('decision.json', 'reports/gate/decision.json'); print('" + FORGED + "')"
    )
    stage = f"  judge:\n    python: tool\n    run: [[python, -c, {json.dumps(copy)}]]\n"
    (tmp_path / "pipeline.yaml").write_text(ONLY_OWN_STAGES + "  gate: {enabled: false}\n" + stage)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert main(["run", "-C", str(tmp_path), "judge"]) == 0
    commands = commands_outside_the_guard(capsys.readouterr().out)
    assert commands[0].startswith("::error file=tests/test_a.py,title=")
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in commands)
    assert not [line for line in commands if line.startswith(FORGED)]


def test_an_error_message_on_stderr_cannot_start_a_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["plan", "-C", str(tmp_path), "--env", f"x\n{FORGED}"]) == 2
    err = capsys.readouterr().err
    assert not [line for line in err.splitlines() if line.lstrip().startswith("::")]


def test_nothing_is_guarded_outside_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    write_reports(tmp_path)
    assert main(["report", "github", "-C", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "stop-commands::" not in out.splitlines()[0]
    assert out.splitlines()[0].startswith("::error file=tests/test_a.py")


def test_json_output_stays_json_under_github_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["plan", "-C", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1


def test_annotations_never_read_a_report_through_a_link_a_stage_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Host files that happen to parse as reports (another checkout's, say): a stage (in a
    # container too) links to them, and the host must not publish what they hold.
    write_reports(tmp_path / "elsewhere")
    host = tmp_path / "elsewhere" / "reports"
    for stage, name in (("security", "result.json"), ("gate", "decision.json")):
        text = (host / stage / name).read_text().replace("password", "HOST-ONLY")
        (host / stage / name).write_text(text.replace("pass_rate", "HOST-ONLY"))
        (tmp_path / "reports" / stage).mkdir(parents=True)
        (tmp_path / "reports" / stage / name).symlink_to(host / stage / name)
    (tmp_path / "reports" / "lint").mkdir()
    os.mkfifo(tmp_path / "reports" / "lint" / "result.json")  # would hang a plain read
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["report", "github", "-C", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "HOST-ONLY" not in out
    assert "reports/gate/decision.json: is a symbolic link" in out


def test_no_stage_gets_githubs_command_files_and_the_run_writes_the_summary_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {name: tmp_path / name.lower() for name in ("GITHUB_ENV", "GITHUB_OUTPUT")}
    files["GITHUB_STEP_SUMMARY"] = tmp_path / "summary.md"
    for name, path in files.items():
        path.write_text("")
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    # A test that would set LD_PRELOAD for every later step of the job, and forge an output.
    forge = (
        "import os\n"
        "for name, line in (('GITHUB_ENV', 'LD_PRELOAD=/tmp/evil.so'),"
        " ('GITHUB_OUTPUT', 'gate=open')):\n"
        "    if os.environ.get(name):\n"
        "        open(os.environ[name], 'a').write(line + '\\n')\n"
    )
    (tmp_path / "test_forge.py").write_text(f"def test_forge():\n    exec({forge!r})\n")
    (tmp_path / "pipeline.yaml").write_text(
        "stages:\n  install: {enabled: false}\n  lint: {enabled: false}\n"
        "  security: {enabled: false}\n"
        "environments:\n  ci:\n    gate: {min_pass_rate: 100, min_coverage: 0}\n"
    )
    assert main(["run", "-C", str(tmp_path), "-q"]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert "LD_PRELOAD" not in files["GITHUB_ENV"].read_text()
    outputs = files["GITHUB_OUTPUT"].read_text()
    assert outputs.count("gate=") == 1  # the run's own, from its gate decision
    assert "Gate" in files["GITHUB_STEP_SUMMARY"].read_text()
