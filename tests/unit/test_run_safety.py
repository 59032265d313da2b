"""`pipelines run` keeps runs apart: one at a time, and artifacts hold only this run's reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.runlock import run_lock
from tests.pipeline_files import ONLY_OWN_STAGES

PIPELINE = (
    ONLY_OWN_STAGES
    + """
  gate: {enabled: false}
  hello:
    python: tool
    run: [[python, -c, "print('hello')"]]
"""
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    return tmp_path


def run(project: Path, *args: str) -> int:
    return main(["run", "-C", str(project), "--json", *args])


def test_a_second_run_is_refused_and_names_the_first(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_lock(project / "reports", "run-42, env ci"):
        assert run(project) == 2
    err = capsys.readouterr().err
    assert "another run is using this project's reports" in err
    assert "run-42, env ci" in err
    # Released: the next run goes ahead.
    assert run(project) == 0


def test_a_lock_left_by_a_dead_run_is_taken_over(project: Path) -> None:
    (project / "reports").mkdir()
    (project / "reports" / ".run.lock").write_text('{"pid": 999999, "run": "killed"}')
    assert run(project) == 0


def test_artifacts_hold_only_what_this_run_produced(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What an earlier, full run left behind.
    for stale in ("reports/test/junit.xml", "reports/gate/decision.json"):
        (project / stale).parent.mkdir(parents=True, exist_ok=True)
        (project / stale).write_text("<old/>")
    assert run(project, "hello") == 0
    target = Path(json.loads(capsys.readouterr().out)["artifacts"])
    assert sorted(p.name for p in target.iterdir()) == ["run-manifest.json"]


def test_the_manifest_records_the_audit_head(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "service" / "flags.yaml"
    (project / "flags.yaml").write_text(example.read_text())
    argv = ["flags", "set", "OTEL_ENABLED", "false", "--env", "ci", "--reason", "x"]
    assert main([*argv, "-C", str(project)]) == 0
    capsys.readouterr()
    assert run(project) == 0
    target = Path(json.loads(capsys.readouterr().out)["artifacts"])
    head = json.loads((target / "run-manifest.json").read_text())["audit"]["flags"]
    assert head["entries"] == 1
    assert len(head["hash"]) == 64


@pytest.mark.parametrize("where", ["reports", "artifacts"])
def test_reports_or_artifacts_being_a_file_is_a_clear_error(
    project: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / where).write_text("not a directory")
    assert run(project) == 2
    assert str(project / where) in capsys.readouterr().err


def test_a_directory_where_a_report_goes_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE.replace("  gate: {enabled: false}\n", ""))
    (tmp_path / "reports" / "gate" / "decision.json").mkdir(parents=True)
    assert run(tmp_path) == 2
    assert "decision.json: a report goes here, but this is a directory" in capsys.readouterr().err
