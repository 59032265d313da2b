"""The plan: pure, ordered, serialisable, with cycles named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.config.pipeline import load_config
from pipelines.errors import ConfigError, UsageError
from pipelines.plan import PlannedStage, build_plan, plan_of, topological_order


def test_default_plan_has_the_ci_stages_and_a_gate(tmp_path: Path) -> None:
    plan = build_plan(load_config(tmp_path), "staging")
    names = [s.name for s in plan.stages]
    assert names == ["install", "lint", "security", "test", "gate"]
    gate = plan.stage("gate")
    assert gate.needs == ("lint", "security", "test")
    assert gate.run_if == "always"
    assert plan.stage("test").run == (("pipelines", "stage", "test", "--env", "staging"),)
    assert plan.stage("lint").env["PIPELINES_ENV"] == "staging"
    assert "reports/test/junit.xml" in plan.stage("test").outputs


def test_plan_json_round_trips(tmp_path: Path) -> None:
    plan = build_plan(load_config(tmp_path), "ci")
    data = json.loads(plan.to_json())
    assert data["version"] == 1
    assert all(isinstance(argv, list) for s in data["stages"] for argv in s["run"])
    assert plan_of(data) == plan


def test_disabled_stages_leave_the_plan(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("stages:\n  security: {enabled: false}\n")
    plan = build_plan(load_config(tmp_path), "ci")
    assert [s.name for s in plan.stages] == ["install", "lint", "test", "gate"]
    assert plan.stage("gate").needs == ("lint", "test")


def test_environment_variables_reach_every_stage(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "environments:\n  ci:\n    env: {FEATURE_X: 'on'}\n"
        "stages:\n  test:\n    env: {ONLY_TEST: '1'}\n"
    )
    plan = build_plan(load_config(tmp_path), "ci")
    assert plan.stage("lint").env["FEATURE_X"] == "on"
    assert plan.stage("test").env["ONLY_TEST"] == "1"
    assert "ONLY_TEST" not in plan.stage("lint").env


def test_select_keeps_named_stages_and_drops_outside_needs(tmp_path: Path) -> None:
    plan = build_plan(load_config(tmp_path), "ci").select(["test", "gate"])
    assert [s.name for s in plan.stages] == ["test", "gate"]
    assert plan.stage("gate").needs == ("test",)
    with pytest.raises(UsageError, match="unknown stage 'deploy'"):
        plan.select(["deploy"])


def test_topological_order_puts_needs_first() -> None:
    stages = [
        PlannedStage("c", (("true",),), needs=("b",)),
        PlannedStage("b", (("true",),), needs=("a",)),
        PlannedStage("a", (("true",),)),
    ]
    assert [s.name for s in topological_order(stages)] == ["a", "b", "c"]


def test_cycles_are_named() -> None:
    stages = [
        PlannedStage("a", (("true",),), needs=("c",)),
        PlannedStage("b", (("true",),), needs=("a",)),
        PlannedStage("c", (("true",),), needs=("b",)),
    ]
    with pytest.raises(ConfigError, match="cycle: a -> c -> b -> a"):
        topological_order(stages)


def test_unknown_needs_and_duplicates_are_errors() -> None:
    with pytest.raises(ConfigError, match="needs 'x', which is not a stage"):
        topological_order([PlannedStage("a", (("true",),), needs=("x",))])
    with pytest.raises(ConfigError, match="defined twice"):
        topological_order([PlannedStage("a", (("true",),)), PlannedStage("a", (("true",),))])
