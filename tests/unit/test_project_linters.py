"""The linters a project declares, at its versions, and the check-only commands they run as."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest

from pipelines.cli import main
from pipelines.config.pipeline import load_config
from pipelines.errors import ConfigError
from pipelines.plan import build_plan
from pipelines.project.commands import FILES, lint_commands, lint_tools
from pipelines.project.facts import read_facts
from pipelines.project.linters import SDK_PINS, discover, sdk_version

ROOT = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text).lstrip(), encoding="utf-8")
    return root


PRE_COMMIT = """
    files: ^(src|tests)/
    repos:
      - repo: https://github.com/astral-sh/ruff-pre-commit
        rev: v0.4.4
        hooks:
          - id: ruff
            args: [--fix, --exit-non-zero-on-fix, --select, "E,F"]
          - id: ruff-format
      - repo: https://github.com/pre-commit/mirrors-mypy
        rev: v1.8.0
        hooks:
          - id: mypy
            additional_dependencies: [types-requests==2.31.0.20240311]
            exclude: ^tests/
      - repo: https://github.com/pre-commit/pre-commit-hooks
        rev: v4.5.0
        hooks: [{id: check-yaml}]
"""


def test_pre_commit_hooks_give_tool_version_arguments_and_files(tmp_path: Path) -> None:
    write(tmp_path, {".pre-commit-config.yaml": PRE_COMMIT})
    found = {tool.name: tool for tool in discover(tmp_path)}
    assert sorted(found) == ["mypy", "ruff", "ruff-format"]
    ruff = found["ruff"]
    assert (ruff.version, ruff.pre_commit) == ("0.4.4", True)
    assert ruff.source == ".pre-commit-config.yaml (rev v0.4.4)"
    assert ruff.args == ("--fix", "--exit-non-zero-on-fix", "--select", "E,F")
    mypy = found["mypy"]
    assert mypy.version == "1.8.0"
    assert mypy.extra == ("types-requests==2.31.0.20240311",)
    # The hook's own default arguments hold when the project gives none.
    assert mypy.args == ("--ignore-missing-imports", "--scoped-packages")
    # Both the top-level and the hook's patterns apply.
    assert mypy.files == "^(src|tests)/" and mypy.exclude == "^tests/"


def test_check_only_whatever_the_hook_asks(tmp_path: Path) -> None:
    write(tmp_path, {".pre-commit-config.yaml": PRE_COMMIT})
    commands = lint_commands(load_config(tmp_path), read_facts(tmp_path))
    ruff = commands["ruff"]
    assert "--no-fix" in ruff and "--fix" not in ruff and "--exit-non-zero-on-fix" not in ruff
    assert ruff[-3:] == ["--select", "E,F", FILES]
    assert commands["ruff-format"][:3] == ["ruff", "format", "--check"]
    # The pre-commit way: mypy sees the hook's dependencies, not the project's environment.
    assert "--python-executable" not in commands["mypy"]


def test_flake8_and_black_pinned_in_a_dev_group_replace_ruff(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": """
                [project]
                name = "p"
                version = "1"
                [dependency-groups]
                dev = ["flake8==7.0.0", "flake8-bugbear>=24", "black==24.3.0", "pytest"]
                [tool.black]
                line-length = 100
            """,
        },
    )
    tools = {t.name: t for t in lint_tools(load_config(tmp_path), read_facts(tmp_path))}
    assert sorted(tools) == ["black", "flake8"]
    assert tools["black"].version == "24.3.0"
    assert tools["black"].source == "pyproject.toml dependency-groups.dev"
    assert tools["flake8"].extra == ("flake8-bugbear>=24",)
    commands = lint_commands(load_config(tmp_path), read_facts(tmp_path))
    assert commands["black"] == ["black", "--check", "--diff", "."]
    assert commands["flake8"][:2] == ["flake8", "--exit-zero"]


def test_mypy_in_tox_takes_its_pin_deps_and_command(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "setup.py": "from setuptools import setup\nsetup()\n",
            "src/pkg/__init__.py": "",
            "tox.ini": """
                [tox]
                envlist = py, type
                [testenv]
                deps = pytest
                commands = pytest {posargs}
                [testenv:type]
                deps =
                    mypy==1.8.0
                    types-six
                commands = mypy --strict src
            """,
        },
    )
    config = load_config(tmp_path)
    facts = read_facts(tmp_path)
    (mypy,) = lint_tools(config, facts)
    assert (mypy.name, mypy.version, mypy.source) == ("mypy", "1.8.0", "tox.ini [testenv:type]")
    argv = lint_commands(config, facts)["mypy"]
    assert argv[-2:] == ["--strict", "src"]
    assert "--python-executable" in argv
    # mypy's typing dependencies go into the project's environment, where it resolves imports.
    plan = build_plan(config, "ci", facts=facts)
    install = " ".join(" ".join(a) for a in plan.stage("install").tools)
    assert "types-six" in install
    assert "lint" in {s.name for s in plan.stages if "install" in s.needs}


def test_mypy_never_checks_the_whole_tree(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "[tool.mypy]\nstrict = true\n", "app/__init__.py": ""})
    write(tmp_path, {"docs/conf.py": "", "tests/test_x.py": ""})
    argv = lint_commands(load_config(tmp_path), read_facts(tmp_path))["mypy"]
    assert argv[-1] == "app"
    assert "." not in argv


def test_a_tool_section_names_a_tool_at_the_sdks_version(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "[tool.isort]\nprofile = 'black'\n"})
    (isort,) = lint_tools(load_config(tmp_path), read_facts(tmp_path))
    assert (isort.name, isort.version) == ("isort", SDK_PINS["isort"])
    assert "isort settings" in isort.source


def test_a_project_that_declares_nothing_gets_the_sdks_ruff(tmp_path: Path) -> None:
    (tool,) = lint_tools(load_config(tmp_path), read_facts(tmp_path))
    assert (tool.name, tool.version) == ("ruff", sdk_version("ruff"))
    assert tool.source.startswith("the SDK")


def test_pipeline_yaml_overrides_tools_and_versions(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".pre-commit-config.yaml": PRE_COMMIT,
            "pipeline.yaml": "stages:\n  lint:\n    tools: [ruff, black]\n"
            "    versions: {ruff: 0.5.0}\n",
        },
    )
    config = load_config(tmp_path)
    tools = {t.name: t for t in lint_tools(config, read_facts(tmp_path))}
    assert sorted(tools) == ["black", "ruff"]
    assert (tools["ruff"].version, tools["ruff"].source) == ("0.5.0", "pipeline.yaml lint.versions")
    plan = build_plan(config, "ci", facts=read_facts(tmp_path))
    assert "ruff 0.5.0 from pipeline.yaml lint.versions" in plan.stage("lint").notes


def test_an_unreadable_pre_commit_config_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, {".pre-commit-config.yaml": "repos: [\n"})
    with pytest.raises(ConfigError, match=r"\.pre-commit-config\.yaml: not valid YAML"):
        read_facts(tmp_path)


def test_the_sdks_pins_are_those_of_constraints() -> None:
    pins = dict(
        re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    )
    for package, version in SDK_PINS.items():
        assert pins.get(package) == version, package


def test_a_hook_pinned_to_a_commit_takes_the_sdks_version_and_says_so(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".pre-commit-config.yaml": """
                repos:
                  - repo: https://github.com/psf/black-pre-commit-mirror
                    rev: 3f6e1c1a8f0b3b2e6f4c2a9d8e7b6a5c4d3e2f1a
                    hooks: [{id: black}]
            """
        },
    )
    (black,) = discover(tmp_path)
    assert black.version == SDK_PINS["black"]
    assert "is no version: the SDK's" in black.source


def test_the_plan_says_what_it_found_and_what_files_stands_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {".pre-commit-config.yaml": PRE_COMMIT})
    assert main(["plan", "-C", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "found: ruff 0.4.4 from .pre-commit-config.yaml (rev v0.4.4)" in shown
    assert (
        "found: mypy 1.8.0 from .pre-commit-config.yaml (rev v1.8.0) with types-requests" in shown
    )
    assert "{files}: the tracked Python files the pre-commit hook matches" in shown


def test_the_plan_names_the_interpreter_the_environment_is_built_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nname = "p"\nversion = "1"\n'})
    first = build_plan(load_config(tmp_path), "ci").stage("install").tools[0]
    # Not a stand-in name: the build uses the interpreter running pipelines, wherever it runs.
    assert "{python}" in first and "python3" not in first
    assert main(["plan", "-C", str(tmp_path)]) == 0
    assert "{python}: the interpreter running pipelines where the stage runs" in (
        capsys.readouterr().out
    )
    write(tmp_path, {"pipeline.yaml": "project_env: {python: /usr/bin/python3.11}\n"})
    chosen = build_plan(load_config(tmp_path), "ci").stage("install").tools[0]
    assert "/usr/bin/python3.11" in chosen
