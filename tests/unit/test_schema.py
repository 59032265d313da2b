"""The layer over msgspec: errors point at the key that is wrong, in words."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from pipelines.config.deploy import DeploySettings
from pipelines.config.pipeline import load_config
from pipelines.config.retention import Keep
from pipelines.config.schema import describe, to_builtins
from pipelines.errors import ConfigError
from pipelines.flags.model import load_flags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # msgspec writes [...] for a mapping's key: the message names the key itself.
        (
            "environments:\n  ci: {}\n  qa:\n    env:\n      A: [1]\n",
            "pipeline.yaml:5: environments.qa.env.A: expected a string, number or boolean",
        ),
        (
            "environments:\n  qa:\n    deploy:\n      targets: [{name: a}, {name: a}]\n",
            "pipeline.yaml:4: environments.qa.deploy.targets: two targets have the same name",
        ),
        (
            "environments:\n  qa:\n    deploy:\n      analysis: {interval: 3d}\n",
            "environments.qa.deploy.analysis.interval: 3d is longer than a deploy step may take",
        ),
        (
            "stages:\n  lint:\n    paths: [src, src]\n",
            "pipeline.yaml:3: stages.lint.paths: lists the same entry twice",
        ),
        (
            "environments:\n  ci:\n    gate:\n      max_findings: {info: 1}\n",
            "environments.ci.gate.max_findings.info: info findings are reported, never limited",
        ),
        (
            "environments:\n  ci:\n    health:\n      checks:\n        - name: a\n",
            "environments.ci.health.checks[0]: a check has exactly one of http, tcp, command",
        ),
    ],
)
def test_errors_point_at_the_key(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "pipeline.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert expected in caught.value.message
    assert caught.value.exit_code == 2


def test_a_section_left_empty_takes_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("stages:\n  lint:\nenvironments:\n  qa:\nretention:\n")
    config = load_config(tmp_path)
    assert config.lint.tools is None
    assert config.environment("qa").gate.min_pass_rate == 95.0
    assert config.retention.runs == 7 * 86400
    (tmp_path / "pipeline.yaml").write_text("stages:\nenvironments:\n")
    assert load_config(tmp_path).stage("test").enabled
    (tmp_path / "pipeline.yaml").write_text(
        "environments:\n  ci:\n    gate:\n      max_findings:\n"
    )
    assert load_config(tmp_path).environment("ci").gate.max_findings == {"critical": 0, "high": 0}


def test_a_rollout_may_start_on_a_date(tmp_path: Path) -> None:
    (tmp_path / "flags.yaml").write_text(
        "version: 1\nflags:\n  X:\n    environments:\n      ci:\n        value: true\n"
        "        rollout: {start: 2026-01-01, duration: 1d, from: 10}\n"
    )
    rollout = load_flags(tmp_path / "flags.yaml").flag("X").environments["ci"].rollout
    assert rollout is not None
    assert rollout.start.isoformat() == "2026-01-01T00:00:00+00:00"


def test_values_are_written_back_as_a_user_writes_them() -> None:
    assert to_builtins(DeploySettings())["keep_old_for"] == "30s"
    assert str(Keep(90 * 86400)) == "90d"
    declared = {field.name: field.type for field in msgspec.structs.fields(DeploySettings)}
    assert describe(declared["instances"]) == "an integer from 1 to 64"
    assert describe(declared["smoke"]) == "a list of a path such as /healthz"
