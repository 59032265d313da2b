"""The lint stage runs the real linters and reports file and line."""

from __future__ import annotations

from pathlib import Path

from pipelines.config import load_config
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
