"""Deploy settings in pipeline.yaml: defaults from one place, errors that teach."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config.deploy import Approval, StrategyKind
from pipelines.config.pipeline import load_config
from pipelines.errors import ConfigError


def config_with(tmp_path: Path, deploy: str) -> Path:
    (tmp_path / "pipeline.yaml").write_text(
        "version: 1\nenvironments:\n  production:\n    deploy:\n" + deploy
    )
    return tmp_path


def test_an_environment_declares_how_it_deploys(tmp_path: Path) -> None:
    project = config_with(
        tmp_path,
        "      strategy: blue-green\n"
        "      approval: required\n"
        "      keep_old_for: 2m\n"
        "      targets:\n"
        "        - {name: eu, listen: '127.0.0.1:19001'}\n"
        "        - {name: us, kind: docker, listen: '127.0.0.1:19002'}\n"
        "      analysis:\n"
        "        interval: 500ms\n"
        "        max_error_rate: {value: 1, op: '>='}\n",
    )
    deploy = load_config(project).environment("production").deploy
    assert deploy.strategy is StrategyKind.BLUE_GREEN
    assert deploy.approval is Approval.REQUIRED
    assert deploy.keep_old_for == 120.0
    assert [(t.kind, t.router) for t in deploy.targets] == [("local", "nginx"), ("docker", "nginx")]
    assert deploy.analysis.interval == 0.5
    assert deploy.analysis.max_error_rate is not None
    assert deploy.analysis.max_error_rate.exceeded(1.0)
    assert deploy.analysis.count == 1  # untouched keys keep their defaults


@pytest.mark.parametrize(
    ("deploy", "message"),
    [
        ("      stratgy: canary\n", "did you mean 'strategy'"),
        ("      strategy: big-bang\n", "big-bang"),
        ("      steps: [50, 10, 100]\n", "must rise and end at 100"),
        ("      steps: [10, 50]\n", "must rise and end at 100"),
        ("      analysis: {interval: soon}\n", "a duration such as"),
        ("      analysis: {max_p95_ms: {value: 100, op: '<'}}\n", "'<'"),
        (
            "      targets: [{name: a, listen: '127.0.0.1:1'}, {name: a, listen: '127.0.0.1:2'}]\n",
            "two targets have the same name",
        ),
    ],
)
def test_bad_deploy_settings_name_the_key_and_the_line(
    tmp_path: Path, deploy: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(config_with(tmp_path, deploy))
    text = f"{raised.value.message} {raised.value.hint}"
    assert "pipeline.yaml:5" in text
    assert "environments.production.deploy" in text
    assert message in text


def test_canary_steps_may_pause_for_a_while_or_until_promoted(tmp_path: Path) -> None:
    project = config_with(tmp_path, "      steps: [10, {pause: 30s}, 50, {pause: null}, 100]\n")
    deploy = load_config(project).environment("production").deploy
    assert [getattr(step, "pause", step) for step in deploy.steps] == [10, 30.0, 50, None, 100]
    assert deploy.weights() == [10, 50, 100]
    for steps, words in (
        ("[10, 100, {pause: 30s}]", "a pause after all traffic moved"),
        ("[50, {pause: 30s}, 10, 100]", "must rise and end at 100"),
        ("[10, {pause: soon}, 100]", "steps"),
    ):
        with pytest.raises(ConfigError, match=words):
            load_config(config_with(tmp_path, f"      steps: {steps}\n"))
