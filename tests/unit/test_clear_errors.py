"""Bad command-line values and inputs of the wrong shape get a clear error with the documented
exit code, never an internal error (exit 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.config.pipeline import from_data
from pipelines.config.yaml_source import Source
from pipelines.errors import ConfigError
from pipelines.gate.perf import read_slowdowns
from tests.unit.test_reports_history import _benchmark_file, _samples


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text("version: 1\n")
    return project


@pytest.mark.parametrize(
    "option",
    [
        ["--alpha", "0"],
        ["--alpha", "1"],
        ["--alpha", "nan"],
        ["--max-slowdown", "nan"],
        ["--max-slowdown", "-1"],
        ["--min-effect", "inf"],
    ],
)
def test_perf_compare_options_out_of_range_are_usage_errors(
    project: Path, tmp_path: Path, option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    base = _benchmark_file(tmp_path / "a.json", _samples(1, 1e-3))
    argv = ["perf", "compare", "-C", str(project), "--baseline", str(base)]
    assert main([*argv, "--candidate", str(base), *option]) == 2
    assert option[0] in capsys.readouterr().err


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        '{"benchmarks": {}}',
        '{"benchmarks": [1]}',
        '{"benchmarks": [{"name": "x", "stats": {"data": [1, "a"]}}]}',
        '{"benchmarks": [{"name": "x", "stats": {"data": [1, NaN, 2]}}]}',
        '{"benchmarks": [{"name": "x", "stats": {"data": [1, 1e999]}}]}',
        '{"benchmarks": [{"name": "x", "stats": []}]}',
        "not json",
    ],
)
def test_perf_inputs_of_the_wrong_shape_are_named(
    project: Path, tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    base = _benchmark_file(tmp_path / "a.json", _samples(1, 1e-3))
    argv = ["perf", "compare", "-C", str(project), "--baseline", str(base)]
    assert main([*argv, "--candidate", str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err


def test_perf_compare_with_a_missing_file_is_a_usage_error(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _benchmark_file(tmp_path / "a.json", _samples(1, 1e-3))
    missing = tmp_path / "missing.json"
    argv = ["perf", "compare", "-C", str(project), "--baseline", str(base)]
    assert main([*argv, "--candidate", str(missing)]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err


def test_a_nan_slowdown_never_reads_as_unchanged(tmp_path: Path) -> None:
    comparison = tmp_path / "comparison.json"
    written = (
        '{"baseline": "a", "candidate": "b", "alpha": 0.01, "min_effect_percent": 5,'
        ' "max_slowdown_percent": 10, "benchmarks": [], "slowdowns": {"t": SLOWDOWN},'
        ' "over_limit": {}}'
    )
    comparison.write_text(written.replace("SLOWDOWN", "12.5"))
    assert read_slowdowns(comparison) == {"t": 12.5}
    for bad in ("NaN", "Infinity", '"12"', "null"):
        comparison.write_text(written.replace("SLOWDOWN", bad))
        with pytest.raises(ValueError):  # the gate names the file and stays closed
            read_slowdowns(comparison)


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "dora", "--since", "99999999999w"],
        ["report", "compliance", "--since", "9" * 400 + "d"],
        ["report", "dora", "--since", "0d"],
        ["watch", "--for", "99999999999w"],
        ["watch", "--every", "1" + "0" * 30 + "s"],
    ],
)
def test_durations_beyond_a_date_are_usage_errors(
    project: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "-C", str(project)]) == 2
    option = next(a for a in argv if a.startswith("--"))
    assert option in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["dora", "compliance"])
def test_reports_of_an_undeclared_environment_suggest_one(
    project: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", kind, "-C", str(project), "--env", "prodution"]) == 2
    err = capsys.readouterr().err
    assert "'prodution'" in err and "did you mean 'production'?" in err


@pytest.mark.parametrize("entry", ["../secrets", "/etc", "src/../../x"])
def test_service_files_outside_the_project_are_a_config_error(entry: str) -> None:
    data = {"version": 1, "service": {"files": [".", entry]}}
    with pytest.raises(ConfigError, match=r"service\.files\[1\]|service\.files\.1"):
        from_data(data, Source("pipeline.yaml"))


def test_monitoring_render_without_the_config_or_into_a_file_is_a_usage_error(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rendered"
    assert main(["monitoring", "render", "-C", str(project), "--out", str(out)]) == 2
    assert "no alertmanager.yml here" in capsys.readouterr().err
    config_dir = tmp_path / "monitoring"
    config_dir.mkdir()
    (config_dir / "alertmanager.yml").write_text("route: {receiver: x}\n")
    taken = tmp_path / "taken"
    taken.write_text("")
    argv = ["monitoring", "render", "-C", str(project), "--dir", str(config_dir)]
    assert main([*argv, "--out", str(taken)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main([*argv, "--out", str(out)]) == 0
    assert (out / "alertmanager.yml").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "command",
    [["report", "html"], ["report", "dora"], ["artifacts", "prune"], ["run", "lint"]],
)
@pytest.mark.parametrize("option", ["--reports", "--artifacts"])
def test_a_file_given_as_the_reports_or_artifacts_directory_is_a_usage_error(
    project: Path,
    tmp_path: Path,
    command: list[str],
    option: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    assert main([*command, "-C", str(project), option, str(taken)]) == 2
    assert f"{option} {taken}: exists and is not a directory" in capsys.readouterr().err


def test_report_summary_takes_one_format(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["report", "summary", "-C", str(project), "--json", "--markdown"]
    assert main(argv) == 2
    assert "--json and --markdown" in capsys.readouterr().err
