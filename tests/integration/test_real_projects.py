"""Real project layouts, copied fresh with nothing installed: ``pipelines run --env ci`` builds
the project's own environment and counts exactly what pytest itself counts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.pipeline_cli import decision, run_pipeline
from tests.integration.real_projects import (
    FLAKE8_BLACK,
    FLAT_LAYOUT,
    POETRY_LAYOUT,
    PRE_COMMIT_PINS,
    SCM_VERSIONED,
    SRC_LAYOUT,
    TOX_MYPY,
    pytest_own_counts,
    tool_output,
    write_project,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of project environments of this test's own."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PIPELINES_CACHE_DIR", str(path))
    return path


def test_src_layout_with_a_dependency_group_passes_out_of_the_box(
    tmp_path: Path, cache: Path
) -> None:
    project = write_project(tmp_path / "calc", SRC_LAYOUT)
    own = pytest_own_counts(project, ["-e", ".", "pytest>=8"], tmp_path)
    assert own == {"passed": 3, "skipped": 1, "xfailed": 1}

    code, run = run_pipeline(project, "--env", "ci")
    statuses = {s["name"]: s["status"] for s in run["stages"]}
    assert statuses == dict.fromkeys(
        ["install", "lint", "security", "test", "e2e", "gate"], "passed"
    ), run
    assert code == 0
    tests = json.loads((project / "reports/test/result.json").read_text())["details"]["tests"]
    assert (tests["passed"], tests["skipped"], tests["xfailed"]) == (3, 1, 1)
    gate = decision(project)
    assert gate["status"] == "open"
    # The custom stage's JUnit feeds the gate: pytest's 3 plus the end-to-end test.
    assert gate["tests"]["passed"] == 4
    # A pinned commit hash is an entropy-only match: reported, never high severity.
    security = json.loads((project / "reports/security/result.json").read_text())
    assert security["details"]["by_severity"].get("high", 0) == 0
    # Every stage log starts with the argv it ran.
    assert (project / "reports/test/log.txt").read_text().startswith("$ ")
    assert "--python-executable" in (project / "reports/lint/log.txt").read_text()
    # The second run finds the environment in the cache.
    code, _ = run_pipeline(project, "--env", "ci")
    assert code == 0
    install = json.loads((project / "reports/install/result.json").read_text())
    assert install["summary"].startswith("reused ")
    assert len(list((cache / "envs").glob("calc-*[!k]"))) == 1


def test_flat_layout_with_requirements_and_a_test_extra(tmp_path: Path, cache: Path) -> None:
    project = write_project(tmp_path / "greet", FLAT_LAYOUT)
    own = pytest_own_counts(project, ["-e", ".[test]", "-r", "requirements.txt"], tmp_path)
    assert own == {"passed": 3, "xfailed": 1}
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 0, run
    tests = json.loads((project / "reports/test/result.json").read_text())["details"]["tests"]
    assert (tests["passed"], tests["skipped"], tests["xfailed"]) == (3, 0, 1)
    plan_log = (project / "reports/install/log.txt").read_text()
    assert "-e '.[test]' -r requirements.txt" in plan_log


def test_a_poetry_project_gets_its_test_group(tmp_path: Path, cache: Path) -> None:
    project = write_project(tmp_path / "tally", POETRY_LAYOUT)
    own = pytest_own_counts(project, ["-e", ".", "pytest>=8,<9", "pytest-mock>=3.12,<4"], tmp_path)
    assert own == {"passed": 2}
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 0, run
    tests = json.loads((project / "reports/test/result.json").read_text())["details"]["tests"]
    assert (tests["passed"], tests["failed"], tests["errors"]) == (2, 0, 0)
    assert "pytest-mock>=3.12,<4" in (project / "reports/install/log.txt").read_text()


def test_a_project_versioned_by_git_installs_from_a_copy_without_git(
    tmp_path: Path, cache: Path
) -> None:
    project = write_project(tmp_path / "stamped", SCM_VERSIONED)
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 0, (run, (project / "reports/install/log.txt").read_text()[-2000:])
    assert (
        "no git metadata: building with version 0.0.0"
        in (project / "reports/install/log.txt").read_text()
    )


def test_a_flat_layout_found_by_setuptools_discovery_installs_beside_reports(
    tmp_path: Path, cache: Path
) -> None:
    # No package list: setuptools discovers packages, and would count reports/ as one.
    files = {
        **FLAT_LAYOUT,
        "pyproject.toml": FLAT_LAYOUT["pyproject.toml"].replace(
            '[tool.setuptools]\n        packages = ["greet"]\n', ""
        ),
    }
    assert "packages" not in files["pyproject.toml"]
    project = write_project(tmp_path / "greet", files)
    (project / "reports").mkdir()  # an earlier run's
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 0, (run, (project / "reports/install/log.txt").read_text()[-2000:])
    assert "without reports/ and artifacts/" in (project / "reports/install/log.txt").read_text()
    tests = json.loads((project / "reports/test/result.json").read_text())["details"]["tests"]
    assert tests["passed"] == 3


def test_a_missing_dependency_is_named_in_the_run(tmp_path: Path, cache: Path) -> None:
    files = {**FLAT_LAYOUT, "requirements.txt": "no-such-package-anywhere-4711\n"}
    project = write_project(tmp_path / "broken", files)
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 1
    statuses = {s["name"]: s["status"] for s in run["stages"]}
    assert statuses["install"] == "failed"
    assert statuses["test"] == "skipped"
    summary = json.loads((project / "reports/install/result.json").read_text())["summary"]
    assert "no-such-package-anywhere-4711" in summary
    assert not list((cache / "envs").glob("broken-*[!k]")), "a failed build leaves nothing"


def test_a_hanging_stage_is_killed_at_its_timeout(tmp_path: Path, cache: Path) -> None:
    project = tmp_path / "slow"
    project.mkdir()
    (project / "pipeline.yaml").write_text(
        "stages:\n"
        "  lint: {enabled: false}\n  security: {enabled: false}\n  test: {enabled: false}\n"
        "  hang:\n"
        "    python: tool\n"
        "    timeout: 2\n"
        "    run:\n"
        "      - [python, -c, 'import subprocess, time; "
        'subprocess.Popen(["sleep", "300"]); time.sleep(300)\']\n'
    )
    code, run = run_pipeline(project, "--env", "ci", timeout=600)
    assert code == 1
    hang = next(s for s in run["stages"] if s["name"] == "hang")
    assert hang["status"] == "failed"
    assert hang["reason"] == "timed out after 2 s"
    # Nothing the stage started outlives it.
    if shutil.which("pgrep"):
        found = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, check=False)
        assert found.stdout == b""


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file of the project but what a run writes."""
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in project.rglob("*")
        if p.is_file() and p.relative_to(project).parts[0] not in ("reports", "artifacts")
    }


def lint_result(project: Path) -> dict[str, object]:
    return json.loads((project / "reports/lint/result.json").read_text())  # type: ignore[no-any-return]


def test_ruff_pinned_by_pre_commit_runs_at_that_version_and_only_checks(
    tmp_path: Path, cache: Path
) -> None:
    project = write_project(tmp_path / "pinned", PRE_COMMIT_PINS)
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 0, run
    log = (project / "reports/lint/log.txt").read_text()
    assert "# ruff 0.4.4 from .pre-commit-config.yaml (rev v0.4.4)" in log
    assert "--no-fix" in log and " --fix" not in log
    assert "# pyupgrade 3.15.2 from .pre-commit-config.yaml (rev v3.15.2)" in log
    assert list((cache / "tools").glob("ruff-0.4.4-*[!k]"))
    # An unused import and a badly formatted file: reported as ruff 0.4.4 reports them, and
    # the files stay as they were although the hook asks ruff to fix.
    (project / "src/pinned/extra.py").write_text("import os\nx  =  set([1, 2])\n")
    before = snapshot(project)
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 1, run
    assert snapshot(project) == before
    own = tool_output(
        project, tmp_path, "ruff==0.4.4", ["ruff", "check", "--no-fix", "--output-format=json", "."]
    )
    own_rules = sorted(item["code"] for item in json.loads(own))
    found = lint_result(project)["findings"]
    assert isinstance(found, list)
    assert sorted(f["rule"] for f in found if f["tool"] == "ruff") == own_rules == ["F401"]
    assert [f["file"] for f in found if f["tool"] == "ruff-format"] == ["src/pinned/extra.py"]
    assert [f["file"] for f in found if f["tool"] == "pyupgrade"] == ["src/pinned/extra.py"]


def test_flake8_and_black_replace_ruff_at_the_versions_pinned(tmp_path: Path, cache: Path) -> None:
    project = write_project(tmp_path / "shapes", FLAKE8_BLACK)
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 0, run
    result = lint_result(project)
    assert result["details"]["tools"] == {  # type: ignore[index]
        "flake8": "0 finding(s)",
        "black": "0 finding(s)",
    }
    (project / "shapes/extra.py").write_text("import os\n\n\n\nx = {  'a':1}\n")
    before = snapshot(project)
    code, _ = run_pipeline(project, "--env", "ci")
    assert code == 1
    assert snapshot(project) == before
    own = tool_output(project, tmp_path, "flake8==7.0.0", ["flake8", "."])
    own_codes = sorted(line.split()[1] for line in own.splitlines() if line.strip())
    found = lint_result(project)["findings"]
    assert isinstance(found, list)
    assert sorted(f["rule"] for f in found if f["tool"] == "flake8") == own_codes
    assert [f["file"] for f in found if f["tool"] == "black"] == ["shapes/extra.py"]


def test_mypy_configured_in_tox_checks_what_tox_checks_at_its_version(
    tmp_path: Path, cache: Path
) -> None:
    project = write_project(tmp_path / "tally2", TOX_MYPY)
    code, run = run_pipeline(project, "--env", "ci")
    assert code == 0, run
    log = (project / "reports/lint/log.txt").read_text()
    assert "# mypy 1.8.0 from tox.ini [testenv:type]" in log
    assert "--strict src" in log
    assert list((cache / "tools").glob("mypy-1.8.0-*[!k]"))
    # The untyped test function is outside what tox checks: not a finding.
    assert lint_result(project)["findings"] == []
