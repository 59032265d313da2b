"""The published JSON Schemas: current, valid, and in agreement with the SDK's own checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipelines.cli import main
from pipelines.config import load_config
from pipelines.errors import ConfigError
from pipelines.health.spec import HealthCheck
from pipelines.json_schemas import KINDS, schema_document, schema_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", KINDS)
def test_the_published_schemas_are_current(kind: str) -> None:
    published = ROOT / "docs" / "schema" / f"{kind}.schema.json"
    assert published.read_text() == schema_text(kind), (
        f"{published} is stale: run `pipelines schema {kind} > {published.relative_to(ROOT)}`"
    )
    jsonschema.Draft202012Validator.check_schema(schema_document(kind))


def as_json(path: Path) -> Any:
    # YAML timestamps load as datetimes; JSON Schema sees them as strings, as editors do.
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("pipeline", "pipeline.yaml"),
        ("pipeline", "examples/service/pipeline.yaml"),
        ("flags", "examples/service/flags.yaml"),
    ],
)
def test_real_files_satisfy_their_schema(kind: str, path: str) -> None:
    validator = jsonschema.Draft202012Validator(schema_document(kind))
    assert [e.message for e in validator.iter_errors(as_json(ROOT / path))] == []


@pytest.mark.parametrize(
    "text",
    [
        "stages:\n  test:\n    rerun: 2\n",
        "stages:\n  lint:\n    tools: [pylint]\n",
        "environments:\n  ci:\n    gate: {min_pass_rate: 120}\n",
        "stages:\n  e2e: {needs: [test]}\n",
        "environments:\n  ci:\n    health:\n      checks: [{name: a}]\n",
    ],
)
def test_what_the_sdk_refuses_the_schema_refuses(tmp_path: Path, text: str) -> None:
    (tmp_path / "pipeline.yaml").write_text(text)
    with pytest.raises(ConfigError):
        load_config(tmp_path)
    validator = jsonschema.Draft202012Validator(schema_document("pipeline"))
    assert list(validator.iter_errors(yaml.safe_load(text)))


def test_the_schema_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "flags"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "portable-pipelines flags.yaml"


def _default(*keys: str) -> Any:
    node: Any = schema_document("pipeline")
    for key in keys:
        node = (
            node["properties"][key]
            if "properties" in node and key in node["properties"]
            else node[key]
        )
    return node["default"]


def test_every_default_the_schema_publishes_is_the_one_the_code_uses(tmp_path: Path) -> None:
    # An empty project: every value below is a default, taken by the code.
    config = load_config(tmp_path)
    health = HealthCheck("x", "tcp", {})
    cases = [
        (("stages", "test", "reruns"), config.test.reruns),
        (("stages", "test", "command"), list(config.test.command)),
        (("stages", "test", "timeout"), config.stage("test").timeout),
        (("stages", "test", "enabled"), config.stage("test").enabled),
        (("stages", "security", "timeout"), config.security.timeout),
        (("stages", "security", "scanners"), list(config.security.scanners)),
        (("stages", "lint", "tools"), config.lint.tools),
        (("project_env", "enabled"), config.project_env.enabled),
        (("metrics", "job"), config.metrics.job),
        (("monitoring", "config_dir"), config.monitoring.config_dir),
    ]
    for keys, used in cases:
        assert _default(*keys) == used, keys
    env = schema_document("pipeline")["properties"]["environments"]["additionalProperties"]
    gate = env["properties"]["gate"]["properties"]
    assert gate["min_pass_rate"]["default"] == config.environment("ci").gate.min_pass_rate
    assert gate["max_findings"]["default"] == config.environment("ci").gate.max_findings
    check = env["properties"]["health"]["properties"]["checks"]["items"]["properties"]
    assert check["timeout"]["default"] == health.timeout
    assert check["retries"]["default"] == health.retries
    assert check["critical"]["default"] == health.critical
    deploy = env["properties"]["deploy"]["properties"]
    used = config.environment("staging").deploy
    assert deploy["strategy"]["default"] == used.strategy.value
    assert deploy["instances"]["default"] == used.instances
    assert deploy["steps"]["default"] == list(used.steps)
    assert deploy["keep_old_for"]["default"] == f"{used.keep_old_for:g}s"
    analysis = deploy["analysis"]["properties"]
    assert analysis["interval"]["default"] == f"{used.analysis.interval:g}s"
    assert analysis["max_error_rate"]["default"] == {
        "value": used.analysis.max_error_rate.value,  # type: ignore[union-attr]
        "op": used.analysis.max_error_rate.op,  # type: ignore[union-attr]
    }
    assert deploy["targets"]["default"][0]["listen"] == used.targets[0].listen
    assert _default("service", "command") is config.service.command is None
    assert _default("service", "faults") == dict(config.service.faults) == {}
