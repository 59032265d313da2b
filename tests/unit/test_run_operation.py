"""The run operation from Python: each step alone, then the whole run, no command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import codec
from pipelines.errors import UsageError
from pipelines.layout import Layout
from pipelines.operations.run import (
    RunOutcome,
    RunRequest,
    execute,
    prepare,
    remove_stale_reports,
    run_pipeline,
    summarise,
)
from pipelines.runners.results import RunResult, RunStatus, StageRun
from tests.pipeline_files import ONLY_OWN_STAGES

PIPELINE = (
    ONLY_OWN_STAGES
    + """
  hello:
    python: tool
    run: [[python, -c, "print('hello')"]]
  broken:
    python: tool
    run: [[python, -c, "raise SystemExit(4)"]]
"""
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    return tmp_path


def test_a_run_returns_its_stages_manifest_and_exit_code(project: Path) -> None:
    heard: list[tuple[str, RunStatus]] = []
    outcome = run_pipeline(
        RunRequest(project, stages=("hello",)), on_event=lambda *e: heard.append(e)
    )
    assert [(s.name, s.status) for s in outcome.result.stages] == [("hello", RunStatus.PASSED)]
    assert outcome.exit_code == 0
    manifest = json.loads(outcome.manifest.read_text())
    assert manifest["status"] == "passed"
    assert manifest["stages"][0]["name"] == "hello"
    assert ("hello", RunStatus.PASSED) in heard


def test_a_failed_stage_is_exit_1(project: Path) -> None:
    outcome = run_pipeline(RunRequest(project, stages=("hello", "broken")))
    statuses = {s.name: s.status for s in outcome.result.stages}
    assert statuses == {"hello": RunStatus.PASSED, "broken": RunStatus.FAILED}
    assert outcome.exit_code == 1
    assert codec.to_builtins(outcome.report())["status"] == "failed"


def test_everything_refusable_is_refused_before_anything_runs(project: Path) -> None:
    with pytest.raises(UsageError, match="unknown runner 'k8s'"):
        prepare(RunRequest(project, runner="k8s"))
    with pytest.raises(UsageError, match="not a directory"):
        prepare(RunRequest(project / "missing"))
    assert not (project / "reports").exists()


def test_the_layout_given_wins_over_pipeline_yaml(project: Path, tmp_path: Path) -> None:
    (project / "pipeline.yaml").write_text(PIPELINE + "reports: elsewhere\n")
    assert prepare(RunRequest(project)).layout.reports == project / "elsewhere"
    given = tmp_path / "given"
    assert prepare(RunRequest(project, reports=given)).layout.reports == given


def test_stale_reports_of_selected_stages_go_before_the_run(project: Path) -> None:
    prepared = prepare(RunRequest(project, stages=("gate",)))
    decision = prepared.layout.stage("gate") / "decision.json"
    decision.parent.mkdir(parents=True)
    decision.write_text("{}")
    remove_stale_reports(prepared.layout, prepared.plan)
    assert not decision.exists()


def test_the_summary_carries_each_stages_own_line(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "reports", tmp_path / "artifacts")
    (layout.stage("hello")).mkdir(parents=True)
    (layout.stage("hello") / "result.json").write_text('{"summary": "2 scanners not checked"}')
    (layout.stage("broken")).mkdir(parents=True)
    (layout.stage("broken") / "result.json").write_text("not json")
    result = RunResult(
        "local",
        (StageRun("hello", RunStatus.PASSED), StageRun("broken", RunStatus.FAILED)),
        0.1,
    )
    assert summarise(layout, result) == {"hello": "2 scanners not checked"}


def test_an_interrupted_run_exits_130(project: Path) -> None:
    prepared = prepare(RunRequest(project, stages=("hello",)))
    done = execute(prepared)
    interrupted = RunOutcome(
        done.plan, RunResult("local", done.result.stages, 0.1, interrupted=True), done.artifacts
    )
    assert interrupted.exit_code == 130
