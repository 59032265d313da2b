"""The files a run writes and reads back are declared types: what the writer puts in a file
the reader gets back as the same value, and a file a user damaged is refused with its path
and the key that is wrong, never an internal error."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import msgspec
import pytest

from pipelines import codec
from pipelines.artifacts import MANIFEST, RunManifest, read_manifest
from pipelines.cli import main
from pipelines.codec import DamagedFile
from pipelines.config.deploy import AnalysisSettings, StepTime
from pipelines.config.pipeline import GateThresholds, MonitoringSettings
from pipelines.deploy.events import Event, JournalEvent, WatchFinished
from pipelines.deploy.journal import Journal
from pipelines.deploy.records import AnalysisRecord, EndpointsRecord
from pipelines.errors import EXIT_USAGE
from pipelines.gate.rules import Evidence, GateDecision, evaluate
from pipelines.readers.coverage import Coverage
from pipelines.readers.junit import Outcome, TestCase, TestSummary
from pipelines.report.history import read_history
from pipelines.runners.results import RunStatus, StageRun

RUN_ID = "20261201T101500123Z-abcdef"


def _decision() -> GateDecision:
    failing = (TestCase("tests.test_a", "test_x", "tests/test_a.py", Outcome.FAILED, "boom"),)
    tests = TestSummary(passed=9, failed=1, flaky=1, failing=failing)
    coverage = Coverage("c.xml", lines_covered=8, lines_valid=10)
    return evaluate("ci", Evidence(tests, coverage, {}), GateThresholds(min_pass_rate=95.0))


def test_a_decision_file_reads_back_as_the_decision_with_its_keys(tmp_path: Path) -> None:
    decision = _decision()
    path = codec.write(tmp_path / "decision.json", decision)
    data = json.loads(path.read_text())
    assert list(data) == [
        "env",
        "status",
        "reasons",
        "rules",
        "tests",
        "coverage",
        "findings",
        "unchecked_scanners",
        "problems",
        "slowdowns",
    ]
    assert data["tests"]["executed"] == 10 and data["tests"]["pass_rate"] == 90.0
    assert data["tests"]["failing"][0]["outcome"] == "failed"
    assert data["coverage"]["line_percent"] == 80.0
    assert codec.read(path, GateDecision) == decision


def test_a_damaged_decision_names_the_file_and_the_key(tmp_path: Path) -> None:
    data = codec.to_builtins(_decision())
    data["tests"]["passed"] = "nine"
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DamagedFile, match=r"decision\.json.*\$\.tests\.passed"):
        codec.read(path, GateDecision)


def test_metrics_of_a_damaged_decision_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decision = tmp_path / "reports/gate/decision.json"
    decision.parent.mkdir(parents=True)
    decision.write_text(json.dumps({"env": "ci", "status": "ajar", "rules": []}))
    assert main(["metrics", "-C", str(tmp_path), "--env", "ci"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "decision.json" in err and "$.status" in err


def test_a_run_manifest_reads_back_and_a_damaged_one_is_named(tmp_path: Path) -> None:
    stages = (StageRun("test", RunStatus.PASSED, 1.23456, exit_code=0, started=0.5),)
    manifest = RunManifest(run_id=RUN_ID, env="ci", status="passed", stages=stages)
    path = codec.write(tmp_path / RUN_ID / MANIFEST, manifest)
    data = json.loads(path.read_text())
    assert list(data) == [
        "run_id",
        "version",
        "pipeline",
        "env",
        "commit",
        "timestamp",
        "runner",
        "status",
        "duration_seconds",
        "stages",
        "artifacts",
    ]
    assert list(data["stages"][0]) == [
        "name",
        "status",
        "duration_seconds",
        "exit_code",
        "log",
        "reason",
        "started",
    ]
    assert data["stages"][0]["duration_seconds"] == 1.235
    assert "refused" not in data and "audit" not in data
    assert read_manifest(path) == manifest

    data["stages"][0]["status"] = "sort-of"
    path.write_text(json.dumps(data))
    history = read_history(tmp_path)
    assert history.runs == []
    [problem] = history.problems
    assert str(path) in problem and "$.stages[0].status" in problem


def test_the_monitoring_record_keeps_every_setting_in_force() -> None:
    # A setting added to the config reaches monitoring-config.json, or this fails.
    analysis = {f.name for f in msgspec.structs.fields(AnalysisSettings)}
    assert {f.name for f in msgspec.structs.fields(AnalysisRecord)} == analysis
    endpoints = {f.name for f in msgspec.structs.fields(MonitoringSettings)} - {"config_dir"}
    assert {f.name for f in msgspec.structs.fields(EndpointsRecord)} == endpoints

    settings = AnalysisSettings(interval=StepTime(90.0), max_p95_ms=None)
    written = codec.to_builtins(AnalysisRecord.of(settings))
    assert written["interval"] == 90.0 and written["max_error_rate"] == {"value": 5.0, "op": ">"}
    assert "max_p95_ms" not in written and "prometheus" not in written
    monitoring = MonitoringSettings(prometheus="http://127.0.0.1:9090")
    assert codec.to_builtins(EndpointsRecord.of(monitoring)) == {
        "prometheus": "http://127.0.0.1:9090"
    }


def _kinds(base: type) -> set[type]:
    found = set()
    for kind in base.__subclasses__():
        found |= {kind} | _kinds(kind)
    return found


def test_every_journal_event_kind_is_one_the_journal_reads(tmp_path: Path) -> None:
    # A kind declared but left out of the union would be written and then refuse to decode.
    assert _kinds(Event) == set(typing.get_args(JournalEvent))
    journal = Journal(tmp_path / "state")
    written = journal.append(WatchFinished(release="r1", failed="p95 1200ms > 1000ms"))
    assert journal.entries() == [written] and written.at
