"""The lint stage runs the real linters and reports file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.config.pipeline import load_config
from pipelines.stages import lint
from pipelines.stages.base import StageContext, StageStatus


def context(tmp_path: Path, tools: str) -> StageContext:
    (tmp_path / "pipeline.yaml").write_text(
        f"stages:\n  lint:\n    tools: [{tools}]\nproject_env: {{enabled: false}}\n"
    )
    return StageContext(tmp_path, load_config(tmp_path), "ci")


def test_findings_carry_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import os\nx = 1\n")
    (tmp_path / "ugly.py").write_text("x  =  1\n")
    (tmp_path / "typed.py").write_text("def f() -> int:\n    return 'no'\n")
    result = lint.run(context(tmp_path, "ruff, ruff-format, mypy"))
    assert result.status is StageStatus.FAILED
    found = {(f.tool, f.rule, f.file, f.line) for f in result.findings}
    assert ("ruff", "F401", "app.py", 1) in found
    assert ("ruff-format", "unformatted", "ugly.py", 1) in found
    assert ("mypy", "return-value", "typed.py", 2) in found
    assert (tmp_path / "reports/lint/result.json").is_file()
    assert not (tmp_path / ".ruff_cache").exists()
    assert not (tmp_path / ".mypy_cache").exists()


def test_clean_code_passes(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text('print("hi")\n')
    result = lint.run(context(tmp_path, "ruff, ruff-format"))
    assert result.status is StageStatus.PASSED
    assert result.summary == "0 finding(s) from ruff, ruff-format"


def test_a_project_that_asks_ruff_to_fix_gets_findings_and_untouched_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nfix = true\n[tool.ruff.lint]\n")
    source = "import os\nimport sys\n\nprint(sys.argv)\n"
    (tmp_path / "app.py").write_text(source)
    ugly = "x  =  1\n"
    (tmp_path / "ugly.py").write_text(ugly)
    result = lint.run(context(tmp_path, "ruff, ruff-format"))
    assert result.status is StageStatus.FAILED
    found = {(f.tool, f.rule, f.file) for f in result.findings}
    assert ("ruff", "F401", "app.py") in found
    assert ("ruff-format", "unformatted", "ugly.py") in found
    assert (tmp_path / "app.py").read_text() == source
    assert (tmp_path / "ugly.py").read_text() == ugly


def test_a_linter_that_rejects_its_configuration_fails_with_its_message(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ruff]\nline-length = "long"\n')
    (tmp_path / "app.py").write_text('print("hi")\n')
    result = lint.run(context(tmp_path, "ruff"))
    assert result.status is StageStatus.FAILED
    assert "ruff failed" in result.summary
    assert "line-length" in result.summary or "pyproject.toml" in result.summary
    assert result.details.tools == {"ruff": "failed to run"}


def test_mypy_that_cannot_read_its_configuration_fails(tmp_path: Path) -> None:
    (tmp_path / "mypy.ini").write_text("[mypy]\nplugins = no_such_plugin_module\n")
    (tmp_path / "app.py").write_text("x: int = 1\n")
    result = lint.run(context(tmp_path, "mypy"))
    assert result.status is StageStatus.FAILED
    assert "mypy failed" in result.summary and "no_such_plugin_module" in result.summary


def test_a_linter_that_cannot_be_installed_leaves_the_stage_not_checked(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text('print("hi")\n')
    (tmp_path / "pipeline.yaml").write_text(
        "stages:\n  lint:\n    tools: [ruff]\n    versions: {ruff: 0.0.1}\n"
        "project_env: {enabled: false}\n"
    )
    # Offline, with an empty cache: the pinned version cannot be fetched.
    environ = {
        **os.environ,
        "PIPELINES_CACHE_DIR": str(tmp_path / "cache"),
        "UV_OFFLINE": "1",
        "PIP_NO_INDEX": "1",
    }
    result = lint.run(StageContext(tmp_path, load_config(tmp_path), "ci", environ))
    assert result.status is StageStatus.NOT_CHECKED
    assert result.details.tools == {"ruff": "not checked"}
    assert "ruff==0.0.1" in result.summary
    assert not (tmp_path / "cache" / "tools").exists() or not any(
        (tmp_path / "cache" / "tools").glob("ruff-*[!k]")
    )


def test_the_log_shows_the_argv_as_the_plan_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text('print("hi")\n')
    lint.run(context(tmp_path, "ruff"))
    logged = capsys.readouterr().out.splitlines()[0]
    assert logged.startswith("$ ruff check --no-fix --exit-zero")
    assert "# ruff " in logged


def test_mypy_with_nothing_to_check_is_not_checked(tmp_path: Path) -> None:
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_x.py").write_text("x: int = 1\n")
    result = lint.run(context(tmp_path, "mypy"))
    assert result.status is StageStatus.NOT_CHECKED
    assert "mypy has nothing to check" in result.summary
