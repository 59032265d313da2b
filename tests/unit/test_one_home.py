"""Each thing said once: suggestions, the gate's table, a command in a log, the help's
lists, the plan's cycle and the median all come from one place."""

from __future__ import annotations

import io
import json
import re
import statistics
from pathlib import Path

import pytest
from rich.console import Console

from pipelines import stats
from pipelines.cli import main
from pipelines.cli.display import show
from pipelines.cli.parser import build_parser
from pipelines.cli.report_cmd import REPORTS
from pipelines.config.deploy import StrategyKind
from pipelines.config.pipeline import BUILTIN_STAGES, load_config
from pipelines.errors import ConfigError, UsageError, closest, did_you_mean
from pipelines.flags.model import load_flags
from pipelines.gate.rules import decision_of
from pipelines.plan import PlannedStage, StageCycle, build_plan, topological_order
from pipelines.process import command_line, show_command
from pipelines.report.summary import gate_table, of_decision, tables
from pipelines.runners import RUNNERS
from pipelines.stages import STAGES
from tests.unit.junit_samples import case, suites

ROOT = Path(__file__).resolve().parents[2]


def test_one_suggestion_rule_a_name_begun_then_the_nearest_spelling() -> None:
    assert closest("prod", ["ci", "staging", "production"]) == "production"
    assert closest("stagin", ["ci", "staging", "production"]) == "staging"
    assert closest("zzz", ["ci", "staging"]) is None
    assert did_you_mean("tset", ["lint", "test"]) == "did you mean 'test'? "
    assert did_you_mean("zzz", ["lint", "test"]) == ""


def test_every_unknown_name_gets_the_same_suggestion(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    with pytest.raises(ConfigError) as env:
        config.environment("prod")
    assert env.value.hint.startswith("did you mean 'production'? ")
    (tmp_path / "pipeline.yaml").write_text("environments:\n  ci:\n    skip_stages: {lin: x}\n")
    with pytest.raises(ConfigError) as skipped:
        build_plan(load_config(tmp_path), "ci")
    assert skipped.value.hint.startswith("did you mean 'lint'? ")
    flags = load_flags(ROOT / "examples" / "service" / "flags.yaml")
    with pytest.raises(UsageError) as flag:
        flags.flag("OTEL")  # the start of OTEL_ENABLED, too far in spelling alone
    assert flag.value.hint == "did you mean 'OTEL_ENABLED'?"


def test_a_cycle_is_a_typed_error_that_carries_it() -> None:
    stages = [
        PlannedStage("a", (("true",),), needs=("c",)),
        PlannedStage("b", (("true",),), needs=("a",)),
        PlannedStage("c", (("true",),), needs=("b",)),
    ]
    with pytest.raises(StageCycle) as caught:
        topological_order(stages)
    assert caught.value.cycle == ("a", "c", "b", "a")
    assert caught.value.message == "the stages form a cycle: a -> c -> b -> a"


def test_the_cycle_error_of_a_pipeline_names_the_line_of_its_first_stage(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "stages:\n  a:\n    run: [[x]]\n    needs: [b]\n  b:\n    run: [[x]]\n    needs: [a]\n"
    )
    with pytest.raises(ConfigError) as caught:
        build_plan(load_config(tmp_path), "ci")
    assert caught.value.message.startswith(f"{tmp_path / 'pipeline.yaml'}:4: stages.a.needs: ")


def test_the_gate_command_shows_the_one_gate_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "j.xml").write_text(suites(case("t0"), case("t1")))
    (tmp_path / "pipeline.yaml").write_text("stages:\n  security: {enabled: false}\n")
    assert main(["gate", "-C", str(tmp_path), "--junit", "j.xml"]) == 0
    shown = capsys.readouterr().out.splitlines()
    decision = decision_of(json.loads((tmp_path / "reports/gate/decision.json").read_text()))
    buffer = io.StringIO()
    show(Console(file=buffer, force_terminal=False), tables(of_decision(decision))[0])
    assert shown[: len(buffer.getvalue().splitlines())] == buffer.getvalue().splitlines()
    # The view's glyph for a value not measured, and the rule's detail.
    assert "line_coverage | — | >= — | info | no coverage report" in shown
    assert gate_table(decision).columns[-1].header == "detail"


def test_a_command_in_a_log_is_quoted_for_a_shell(capsys: pytest.CaptureFixture[str]) -> None:
    show_command(["pytest", "-k", "a and b", "it's"])
    assert capsys.readouterr().out == "$ pytest -k 'a and b' 'it'\"'\"'s'\n"


def test_the_help_lists_what_the_registries_hold(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["stage", "--help"])
    stage_help = " ".join(capsys.readouterr().out.split())
    assert all(name in stage_help for name in STAGES)
    assert "install" in stage_help
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    run_help = " ".join(capsys.readouterr().out.split())
    assert all(name in run_help for name in RUNNERS)
    strategies = {kind.value for kind in StrategyKind}
    for argv in (["deploy", "--strategy", "x"], ["drill", "rollback", "--strategy", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        error = capsys.readouterr().err
        assert all(f"'{name}'" in error for name in strategies)


def test_every_report_kind_has_its_handler(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "nope"])
    offered = re.search(r"choose from (.*)\)", capsys.readouterr().err)
    assert offered is not None
    assert {name.strip(" '") for name in offered[1].split(",")} == set(REPORTS)


def test_the_median_is_the_stdlibs() -> None:
    assert stats.median is statistics.median


def test_the_built_in_stages_are_declared_once() -> None:
    # Their settings declare them, in order; every one has its module in the stage registry.
    assert BUILTIN_STAGES[:4] == ("install", "lint", "security", "test")
    assert set(STAGES) == set(BUILTIN_STAGES)


def test_a_report_for_an_unknown_environment_gets_the_one_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "dora", "-C", str(tmp_path), "--env", "prod"]) == 2
    assert "did you mean 'production'? " in capsys.readouterr().err


def test_a_command_line_is_spelled_once() -> None:
    assert command_line(["pip", "install", "a b"], why="x") == "$ pip install 'a b'  # x"
