"""Custom stages, needs and timeouts in pipeline.yaml; the project's own tool settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import codec
from pipelines.config.pipeline import load_config
from pipelines.errors import ConfigError
from pipelines.plan import build_plan
from pipelines.process import run_tool
from pipelines.project import environment as project_env
from pipelines.project.commands import lint_commands, lint_tools, pytest_command, security_commands
from pipelines.project.environment import install_plan
from pipelines.project.facts import read_facts
from pipelines.readers.junit import read_junit
from pipelines.stages import security
from pipelines.stages.base import StageContext

# Built at run time so this file itself holds nothing that looks like a credential.
PRIVATE_KEY = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYL\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_custom_stages_join_the_dag_and_the_gate_waits_for_them(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pipeline.yaml": "stages:\n"
            "  e2e:\n    run: [[python, -m, pytest, e2e]]\n    needs: [test]\n    timeout: 60\n"
            "  publish:\n    run: [[echo, done]]\n    needs: [gate]\n    python: tool\n"
        },
    )
    plan = build_plan(load_config(tmp_path), "ci", facts=read_facts(tmp_path))
    stages = {s.name: s for s in plan.stages}
    assert stages["e2e"].needs == ("install", "test")
    assert stages["e2e"].timeout == 60
    assert stages["e2e"].tools == (("{env}/bin/python", "-m", "pytest", "e2e"),)
    assert "e2e" in stages["gate"].needs
    assert "publish" not in stages["gate"].needs
    assert stages["publish"].needs == ("gate",)
    names = [s.name for s in plan.stages]
    assert names.index("gate") < names.index("publish")


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        (
            "  a:\n    run: [[x]]\n    needs: [nope]\n",
            "pipeline.yaml:5: stages.a.needs: needs 'nope'",
        ),
        (
            "  a:\n    run: [[x]]\n    needs: [b]\n  b:\n    run: [[x]]\n    needs: [a]\n",
            "the stages form a cycle",
        ),
        ("  tset: {}\n", "stages.tset: unknown stage"),
        ("  a:\n    run: [[x]]\n    junit: [out/junit.xml]\n", "not inside reports/a/"),
        ("  a:\n    run: echo hi\n", "stages.a.run: expected a list"),
    ],
)
def test_bad_stages_are_errors_naming_file_and_line(
    tmp_path: Path, stages: str, expected: str
) -> None:
    (tmp_path / "pipeline.yaml").write_text("version: 1\nstages:\n" + stages)
    with pytest.raises(ConfigError) as caught:
        build_plan(load_config(tmp_path), "ci")
    assert expected in caught.value.message
    assert str(tmp_path / "pipeline.yaml") in caught.value.message


def test_config_file_reaches_every_stage(tmp_path: Path) -> None:
    plan = build_plan(load_config(tmp_path), "ci", config_file="ci/strict.yaml")
    for stage in plan.stages:
        assert stage.run[0][-2:] == ("--config", "ci/strict.yaml")


def test_the_projects_own_tool_settings_win(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname = 'x'\nversion = '1'\n"
            "[project.optional-dependencies]\ntest = ['pytest']\n"
            "[dependency-groups]\ndev = ['ruff']\ntests = ['pytest', {include-group = 'dev'}]\n"
            "[tool.mypy]\nfiles = ['src']\n"
            "[tool.coverage.run]\nsource = ['src']\n"
            "[tool.bandit]\nexclude_dirs = ['fixtures']\n",
            "requirements-dev.txt": "six\n",
            ".secrets.baseline": "{}",
            "pipeline.yaml": "stages:\n  lint:\n    tools: [ruff, mypy]\n",
        },
    )
    config, facts = load_config(tmp_path), read_facts(tmp_path)
    mypy = lint_commands(config, facts)["mypy"]
    assert mypy[-2:] == ["--python-executable", "{env}/bin/python"]  # no path: mypy's `files`
    assert "--cov" in pytest_command(config, facts)
    bandit = security_commands(config, facts)["bandit"]
    assert bandit[bandit.index("-c") + 1] == "pyproject.toml"
    assert "fixtures" in bandit[bandit.index("-x") + 1].split(",")
    plan = install_plan(config, facts)
    assert plan.groups == ("tests",)
    assert plan.group_requirements == ("pytest", "ruff")
    assert plan.install_args()[:2] == ["-e", ".[test]"]
    assert plan.install_args()[2:4] == ["-r", "requirements-dev.txt"]
    assert plan.install_args().count("pytest") == 1


def test_xfail_is_counted_apart_from_skipped(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="s">'
        '<testcase classname="t" name="ok"/>'
        '<testcase classname="t" name="skip"><skipped type="pytest.skip" message="no"/></testcase>'
        '<testcase classname="t" name="xf"><skipped type="pytest.xfail" message="bug"/></testcase>'
        "</testsuite></testsuites>"
    )
    tests = read_junit([report])
    assert (tests.passed, tests.skipped, tests.xfailed, tests.executed) == (1, 1, 1, 1)


def test_entropy_only_secrets_are_low_and_baseline_entries_are_not_reported(
    tmp_path: Path,
) -> None:
    commit = "3f6e1c1a8f0b3b2e6f4c2a9d8e7b6a5c4d3e2f1a"
    write(
        tmp_path,
        {
            "pipeline.yaml": "stages:\n  security:\n    scanners: [detect-secrets]\n"
            "project_env: {enabled: false}\n",
            ".pre-commit-config.yaml": f"repos:\n  - repo: x\n    rev: {commit}\n",
            "key.pem": PRIVATE_KEY,
        },
    )
    context = StageContext(tmp_path, load_config(tmp_path), "ci")
    found = {(f.file, f.severity) for f in security.run(context).findings}
    assert (".pre-commit-config.yaml", "low") in found
    assert ("key.pem", "high") in found
    # The project audits the key in its baseline: it is no longer reported.
    scan = json.loads((tmp_path / "reports/security/result.json").read_text())
    assert scan["details"]["by_severity"]["high"] == 1
    baseline = subprocess.run(
        [str(Path(sys.executable).parent / "detect-secrets"), "scan", "key.pem"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    (tmp_path / ".secrets.baseline").write_bytes(baseline.stdout)
    found = {(f.file, f.severity) for f in security.run(context).findings}
    assert ("key.pem", "high") not in found


@pytest.mark.parametrize(
    "settings", ["project_env: {enabled: false}\n", "stages:\n  install: {enabled: false}\n"]
)
def test_without_the_install_stage_nothing_needs_it(tmp_path: Path, settings: str) -> None:
    (tmp_path / "pipeline.yaml").write_text(settings + "")
    plan = build_plan(load_config(tmp_path), "ci")
    assert "install" not in [s.name for s in plan.stages]
    assert all("install" not in s.needs for s in plan.stages)


def test_an_environment_says_which_stages_it_skips_and_why(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "environments:\n  box:\n    skip_stages: {e2e: no browser here}\n"
        "stages:\n  e2e:\n    run: [[x]]\n  report:\n    run: [[y]]\n    needs: [e2e]\n"
    )
    plan = build_plan(load_config(tmp_path), "box")
    assert "e2e" not in [s.name for s in plan.stages]
    assert codec.to_builtins(plan)["skipped"] == [{"name": "e2e", "reason": "no browser here"}]
    assert next(s for s in plan.stages if s.name == "report").needs == ("install",)
    (tmp_path / "pipeline.yaml").write_text(
        "environments:\n  box:\n    skip_stages: {integraton: typo}\n"
    )
    with pytest.raises(ConfigError, match="'integraton' is not a stage"):
        build_plan(load_config(tmp_path), "box")


def test_tools_a_stage_runs_never_see_where_the_run_writes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIPELINES_REPORTS_DIR", str(tmp_path / "outer"))
    script = "import os; print(os.environ.get('PIPELINES_REPORTS_DIR', 'unset'))"
    done = run_tool([sys.executable, "-c", script], cwd=tmp_path)
    assert done.stdout.strip() == "unset"


def test_test_dependencies_declared_in_tool_tables_are_found(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "[build-system]\nrequires = ['poetry-core']\n"
            "build-backend = 'poetry.core.masonry.api'\n"
            "[tool.poetry]\nname = 'p'\nversion = '1'\n"
            "[tool.poetry.group.test.dependencies]\n"
            "pytest = '^8.1'\npytest-mock = {version = '~3.14', extras = ['x']}\n"
            "local = {path = '../local'}\n"
            "[tool.pdm.dev-dependencies]\nlint = ['ruff>=0.5']\n"
            "[tool.hatch.envs.default]\ndependencies = ['coverage']\n",
            "tox.ini": "[testenv]\ndeps =\n    pytest\n    -r requirements.txt\n",
        },
    )
    facts = read_facts(tmp_path)
    assert facts.groups is not None
    assert facts.groups["test"] == ("pytest>=8.1,<9", "pytest-mock[x]>=3.14,<3.15")
    assert facts.groups["lint"] == ("ruff>=0.5",)
    assert facts.groups["dev"] == ("coverage",)
    assert facts.groups["testenv"] == ("pytest",)
    plan = install_plan(load_config(tmp_path), facts)
    assert plan.groups == ("test",)
    assert plan.install_project


def test_a_pep735_group_wins_over_a_tool_table_of_the_same_name(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "[dependency-groups]\ntest = ['pytest>=8']\n"
            "[tool.uv]\ndev-dependencies = ['black']\n"
            "[tool.poetry.group.test.dependencies]\npytest = '^7'\n",
        },
    )
    groups = read_facts(tmp_path).groups or {}
    assert groups["test"] == ("pytest>=8",)
    assert groups["dev"] == ("black",)


FORMAT = "ruff-format"


@pytest.mark.parametrize(
    ("files", "tools"),
    [
        ({}, ("ruff",)),
        ({"pyproject.toml": "[tool.black]\nline-length = 99\n"}, ("black",)),
        ({"ruff.toml": "line-length = 99\n"}, ("ruff", "ruff-format")),
        (
            {
                ".pre-commit-config.yaml": "repos:\n- repo: https://github.com/psf/black\n"
                "  rev: 24.3.0\n  hooks: [{id: black}]\n"
            },
            ("black",),
        ),
        ({"pipeline.yaml": "stages:\n  lint:\n    tools: [mypy]\n"}, ("mypy",)),
    ],
)
def test_the_projects_own_linters_run_else_ruff(
    tmp_path: Path, files: dict[str, str], tools: tuple[str, ...]
) -> None:
    write(tmp_path, files)
    found = lint_tools(load_config(tmp_path), read_facts(tmp_path))
    assert tuple(tool.name for tool in found) == tools


def test_environments_in_a_shared_cache_are_never_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two projects that are both /src inside a container, of unknown identity (Dagger).
    envs = tmp_path / "cache" / "envs"
    other = envs / "src-aaaaaaaa-0000000000000000"
    other.mkdir(parents=True)
    (other / ".pipelines-ready.json").write_text("{}")
    prune: list[Path] = []
    monkeypatch.setattr(project_env, "_build", lambda *args: None)
    monkeypatch.setattr(project_env, "_remove_older", prune.append)
    environ = {"PIPELINES_CACHE_DIR": str(tmp_path / "cache"), "PIPELINES_SHARED_CACHE": "1"}
    project_env.ensure(tmp_path, project_env.InstallPlan(), environ)
    assert prune == []
    environ = {
        "PIPELINES_CACHE_DIR": str(tmp_path / "cache"),
        "PIPELINES_PROJECT_ID": "abc12345",
        "PIPELINES_PROJECT_PATH": str(tmp_path),
    }
    env, _ = project_env.ensure(tmp_path, project_env.InstallPlan(), environ)
    assert "-abc12345-" in env.path.name
    assert prune == [env.path]
    # Another project in the same container (a test suite's temporary one) is not taken for
    # the project that identity is for: its environment has a name of its own.
    other_project = tmp_path / "elsewhere"
    other_project.mkdir()
    env, _ = project_env.ensure(other_project, project_env.InstallPlan(), environ)
    assert "-abc12345-" not in env.path.name


@pytest.mark.parametrize(
    ("extras", "chosen"),
    [
        ("testing = ['pytest']\ndev = ['ruff']\n", ("testing",)),
        ("dev = ['pytest']\ndocs = ['sphinx']\n", ("dev",)),
        ("docs = ['sphinx']\n", ()),
    ],
)
def test_the_test_extras_and_else_the_dev_extra(
    tmp_path: Path, extras: str, chosen: tuple[str, ...]
) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname = 'p'\nversion = '1'\n"
            "[project.optional-dependencies]\n" + extras
        },
    )
    assert install_plan(load_config(tmp_path), read_facts(tmp_path)).extras == chosen
