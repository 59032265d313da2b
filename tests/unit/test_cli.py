"""The CLI: commands, JSON output and exit codes at the one error boundary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import inspect_cmd, main
from pipelines.config.pipeline import load_config
from pipelines.errors import ConfigError
from pipelines.stages import lint
from pipelines.stages.base import StageContext, StageStatus
from tests.unit.junit_samples import FAIL, case, suites


def test_validate_reports_what_the_file_defines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pipeline.yaml").write_text("version: 1\nname: shop\n")
    assert main(["validate", "-C", str(tmp_path)]) == 0
    assert "valid (pipeline 'shop'" in capsys.readouterr().out


def test_validate_exits_2_with_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pipeline.yaml").write_text("stages:\n  test:\n    rerun: 2\n")
    assert main(["validate", "-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pipeline.yaml:3: stages.test.rerun: unknown key" in err
    assert "did you mean 'reruns'?" in err


def test_plan_json_is_the_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "-C", str(tmp_path), "--env", "production", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["env"] == "production"
    assert [s["name"] for s in data["stages"]] == ["install", "lint", "security", "test", "gate"]


def test_unknown_env_and_stage_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "-C", str(tmp_path), "--env", "prod"]) == 2
    assert main(["stage", "deploy", "-C", str(tmp_path)]) == 2
    assert main(["run", "nope", "-C", str(tmp_path)]) == 2
    assert main(["run", "-C", str(tmp_path), "--runner", "k8s"]) == 2
    assert main(["plan", "-C", str(tmp_path / "missing")]) == 2
    capsys.readouterr()
    assert main(["stage", "tset", "-C", str(tmp_path)]) == 2
    assert "hint: did you mean 'test'? stages: " in capsys.readouterr().err


def test_gate_decides_from_explicit_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(suites(*[case(f"t{i}") for i in range(19)], case("bad", body=FAIL)))
    (tmp_path / "pipeline.yaml").write_text("stages:\n  security: {enabled: false}\n")
    assert main(["gate", "-C", str(tmp_path), "--junit", str(junit), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "open"
    assert data["tests"]["pass_rate"] == 95.0
    assert main(["gate", "-C", str(tmp_path), "--env", "production", "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "closed: pass_rate: measured 95.00, required >= 98.00" in out
    saved = json.loads((tmp_path / "reports/gate/decision.json").read_text())
    assert saved["status"] == "closed"


def test_unexpected_errors_exit_3_and_leave_details(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr("pipelines.cli.inspect_cmd.validate", explode)
    assert main(["validate", "-C", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err
    crash = Path(err.rsplit("details in ", 1)[1].strip())
    assert "RuntimeError: boom" in crash.read_text()
    crash.unlink()


def test_markup_in_user_input_is_printed_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pipeline.yaml").write_text('stages:\n  "[/x]": {}\n')
    assert main(["validate", "-C", str(tmp_path)]) == 2
    assert "stages.[/x]" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        ("[project\nname = 'x'\n", "pyproject.toml: not valid TOML"),
        (
            "[dependency-groups]\ntest = [{include-group = 'dev'}]\n"
            "dev = [{include-group = 'test'}]\n",
            "test -> dev -> test includes itself",
        ),
        ("[dependency-groups]\ntest = [{include-group = 'nope'}]\n", "includes 'nope'"),
    ],
)
def test_a_broken_pyproject_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pyproject: str, expected: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    assert main(["plan", "-C", str(tmp_path)]) == 2
    assert expected in capsys.readouterr().err


def test_a_group_pipeline_yaml_names_must_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[dependency-groups]\ntest = ['pytest']\n")
    (tmp_path / "pipeline.yaml").write_text("project_env:\n  groups: [tests]\n")
    assert main(["plan", "-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "project_env.groups: tests is not a dependency group" in err
    assert "declared groups: test" in err


def test_plan_shows_every_tools_argv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pipeline.yaml").write_text("stages:\n  test:\n    reruns: 1\n")
    assert main(["plan", "-C", str(tmp_path), "--json"]) == 0
    stages = {s["name"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    (pytest_argv,) = stages["test"]["tools"]
    assert pytest_argv[:3] == ["{env}/bin/python", "-m", "pytest"]
    assert "--reruns" in pytest_argv
    assert [argv[0] for argv in stages["security"]["tools"]] == [
        "bandit",
        "detect-secrets",
        "pip-audit",
    ]
    assert stages["install"]["source"] == "read-write"
    assert stages["test"]["timeout"] == 3600


def test_tool_output_keeps_its_brackets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "app.py").write_text("import os\n")
    (tmp_path / "pipeline.yaml").write_text(
        "name: '[bold]shop[/]'\nstages:\n  lint:\n    tools: [ruff]\n"
    )
    assert main(["stage", "lint", "-C", str(tmp_path)]) == 1
    assert "app.py:1: [ruff F401]" in capsys.readouterr().out
    assert main(["validate", "-C", str(tmp_path)]) == 0
    assert "pipeline '[bold]shop[/]'" in capsys.readouterr().out


def test_an_expected_error_inside_a_task_group_keeps_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(*_args: object) -> int:
        inner = ExceptionGroup("stages", [ValueError("noise"), ConfigError("bad stage")])
        raise ExceptionGroup("unhandled errors in a TaskGroup", [inner])

    monkeypatch.setattr(inspect_cmd, "validate", fails)
    assert main(["validate"]) == 2
    assert "error: bad stage" in capsys.readouterr().err


@pytest.mark.parametrize(
    "decision", ["{not json", "[1, 2]", '{"status": "open", "tests": {"passed": "many"}}']
)
def test_a_corrupt_decision_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], decision: str
) -> None:
    (tmp_path / "reports" / "gate").mkdir(parents=True)
    (tmp_path / "reports" / "gate" / "decision.json").write_text(decision)
    assert main(["metrics", "-C", str(tmp_path)]) == 2
    assert "decision.json" in capsys.readouterr().err


def test_gate_paths_are_the_projects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "junit.xml").write_text(suites(case("t", "ok")))
    (tmp_path / "pipeline.yaml").write_text("stages:\n  security: {enabled: false}\n")
    assert main(["gate", "-C", str(tmp_path), "--junit", "out/junit.xml", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tests"]["passed"] == 1


def test_a_missing_linter_is_not_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = lint.tool_bin
    empty = tmp_path / "empty-bin"
    empty.mkdir()

    def without_mypy(tool: Any, environ: Any) -> Path:
        return empty if tool.name == "mypy" else real(tool, environ)

    monkeypatch.setattr(lint, "tool_bin", without_mypy)
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "pipeline.yaml").write_text(
        "stages:\n  lint:\n    tools: [ruff, mypy]\nproject_env: {enabled: false}\n"
    )
    result = lint.run(StageContext(tmp_path, load_config(tmp_path), "ci"))
    assert result.status is StageStatus.NOT_CHECKED
    assert f"not checked: mypy: mypy is not installed in {empty}" in result.summary


def test_a_pushgateway_that_is_not_a_url_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pipeline.yaml").write_text("version: 1\n")
    assert main(["metrics", "-C", str(tmp_path), "--pushgateway", "pushgateway:9091"]) == 2
    assert "expected an http(s) URL" in capsys.readouterr().err
