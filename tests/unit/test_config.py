"""pipeline.yaml: defaults, merging, and errors that name file, key path and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.config.pipeline import load_config
from pipelines.errors import ConfigError
from pipelines.flags.model import load_flags

Write = Callable[[str, str | bytes], Path]


def test_missing_file_means_python_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert set(config.environments) == {"ci", "staging", "production"}
    assert config.environment("ci").gate.min_pass_rate == 95
    assert config.environment("staging").gate.min_pass_rate == 95
    assert config.environment("production").gate.min_pass_rate == 98
    assert config.environment("production").gate.max_flaky == 0
    assert config.test.command == ("python", "-m", "pytest")
    assert config.lint.tools is None  # ruff, and ruff format where the project formats
    assert config.name == tmp_path.name


def test_values_merge_over_defaults(tmp_path: Path, write: Write) -> None:
    write(
        "pipeline.yaml",
        """
version: 1
name: shop
environments:
  ci:
    gate: {min_coverage: 80, coverage_metric: branch, max_findings: {medium: 3}}
    env: {LOG_LEVEL: debug, RETRIES: 3, DEBUG: true}
  qa:
    gate: {min_pass_rate: 90}
stages:
  test: {command: [python, -m, pytest, tests], reruns: 2, coverage_source: [shop]}
  lint: {tools: [ruff, mypy]}
""",
    )
    config = load_config(tmp_path)
    ci = config.environment("ci")
    assert ci.gate.min_pass_rate == 95  # default kept
    assert ci.gate.min_coverage == 80
    assert ci.gate.coverage_metric == "branch"
    # Per severity over the defaults: critical and high keep their limits.
    assert ci.gate.max_findings == {"critical": 0, "high": 0, "medium": 3}
    assert ci.env == {"LOG_LEVEL": "debug", "RETRIES": "3", "DEBUG": "true"}
    assert config.environment("qa").gate.min_pass_rate == 90
    assert config.test.reruns == 2
    assert config.lint.tools == ("ruff", "mypy")


@pytest.mark.parametrize(
    ("text", "expected", "hint"),
    [
        (
            "stages:\n  tset: {}\n",
            "pipeline.yaml:2: stages.tset: unknown stage",
            "did you mean 'test'",
        ),
        (
            "environments:\n  ci:\n    gate:\n      min_pass_rat: 90\n",
            "pipeline.yaml:4: environments.ci.gate.min_pass_rat: unknown key",
            "did you mean 'min_pass_rate'",
        ),
        (
            "environments:\n  ci:\n    gate:\n      min_pass_rate: 120\n",
            "pipeline.yaml:4: environments.ci.gate.min_pass_rate: expected a number from 0 to 100",
            "",
        ),
        (
            "stages:\n  test:\n    reruns: two\n",
            "pipeline.yaml:3: stages.test.reruns: expected an integer from 0 to 10, got 'two'",
            "",
        ),
        (
            "stages:\n  test:\n    command: pytest -x\n",
            "pipeline.yaml:3: stages.test.command: expected a list of at least 1",
            "",
        ),
        (
            "stages:\n  lint:\n    tools: [ruff, pylint]\n",
            "pipeline.yaml:3: stages.lint.tools[1]: expected one of 'ruff', 'ruff-format', 'black'",
            "",
        ),
        ("name: a\nname: b\n", "pipeline.yaml:2: name: duplicate key", "keep one"),
        ("stages: [\n", "pipeline.yaml:2: not valid YAML", "fix the syntax"),
        ("- a\n- b\n", "pipeline.yaml:1: (top level): expected a mapping, got a list", ""),
        (
            "environments:\n  Prod:\n    gate: {}\n",
            "pipeline.yaml:2: environments.Prod: expected a lower-case name",
            "",
        ),
    ],
)
def test_errors_name_file_key_and_line(
    tmp_path: Path, write: Write, text: str, expected: str, hint: str
) -> None:
    write("pipeline.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    message = caught.value.message
    assert message.startswith(str(tmp_path) + "/")
    assert expected in message
    assert hint in caught.value.hint
    assert caught.value.exit_code == 2


def test_non_utf8_file_is_a_config_error(tmp_path: Path, write: Write) -> None:
    write("pipeline.yaml", b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path, tmp_path / "other.yaml")


def test_unknown_environment_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path).environment("prod")
    assert "unknown environment 'prod'" in caught.value.message
    assert "ci, production, staging" in caught.value.hint


def test_the_example_pipeline_is_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "examples" / "service"
    config = load_config(root)
    assert config.name == "example-service"
    assert config.test.reruns == 2


def _alias_bomb(levels: int = 12) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["pipeline.yaml", "flags.yaml"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_alias_bomb(), "expands to more than 100000 values"),
        ("x: &a [*a]\n", ":1: an alias refers to a value that contains it"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ],
)
def test_hostile_yaml_is_refused_quickly(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    (tmp_path / name).write_text(text)
    loader = load_config if name == "pipeline.yaml" else lambda p: load_flags(p / "flags.yaml")
    with pytest.raises(ConfigError) as caught:
        loader(tmp_path)
    assert expected in caught.value.message
    assert name in caught.value.message


def test_aliases_that_stay_small_are_fine(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "environments:\n  staging:\n    gate: &strict {min_pass_rate: 99, max_flaky: 0}\n"
        "  production:\n    gate: *strict\n"
    )
    config = load_config(tmp_path)
    assert config.environment("production").gate.min_pass_rate == 99


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("# padding\n" * 200_000)
    with pytest.raises(ConfigError, match="more than a config file may have"):
        load_config(tmp_path)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_thresholds_must_be_finite(tmp_path: Path, value: str) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        f"environments:\n  ci:\n    gate:\n      min_pass_rate: {value}\n"
    )
    with pytest.raises(
        ConfigError, match=r"environments\.ci\.gate\.min_pass_rate: expected a finite"
    ):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (
            "    type: float\n    default: .nan\n",
            "flags.X.default: expected a finite number",
        ),
        (
            "    environments:\n      ci:\n        value: true\n"
            "        rollout: {start: '2026-01-01T00:00:00Z', duration: 999999999d}\n",
            "longer than a rollout may take",
        ),
        (
            "    environments:\n      ci:\n        value: true\n"
            "        rollout: {start: '9999-12-01T00:00:00Z', duration: 3000d}\n",
            "would end after the year 9999",
        ),
    ],
)
def test_flag_values_and_rollouts_that_cannot_work_are_refused(
    tmp_path: Path, flag: str, expected: str
) -> None:
    (tmp_path / "flags.yaml").write_text("version: 1\nflags:\n  X:\n" + flag)
    with pytest.raises(ConfigError, match=expected):
        load_flags(tmp_path / "flags.yaml")


def test_a_command_written_as_a_string_gets_a_hint_to_write_a_list(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("stages:\n  test:\n    command: pytest -x tests\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert "stages.test.command: expected a list" in caught.value.message
    assert "got the string 'pytest -x tests'" in caught.value.message
    assert caught.value.hint == "write a list, for example [python, -m, pytest]"
