"""The published JSON Schemas: current, valid, and in agreement with the SDK's own checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipelines.cli import main
from pipelines.config.health import HealthCheck
from pipelines.config.json_schemas import KINDS, schema_document, schema_text
from pipelines.config.pipeline import load_config
from pipelines.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", KINDS)
def test_the_published_schemas_are_current(kind: str) -> None:
    published = ROOT / "docs" / "schema" / f"{kind}.schema.json"
    assert published.read_text() == schema_text(kind), (
        f"{published} is stale: run `pipelines schema {kind} > {published.relative_to(ROOT)}`"
    )
    jsonschema.Draft202012Validator.check_schema(schema_document(kind))


def test_the_schema_command_offers_every_published_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    published = sorted(
        p.name.removesuffix(".schema.json") for p in (ROOT / "docs/schema").iterdir()
    )
    assert sorted(KINDS) == published
    for kind in KINDS:
        assert main(["schema", kind]) == 0
        assert capsys.readouterr().out == schema_text(kind)
    assert main(["schema", "nope"]) == 2
    assert "choose from " + ", ".join(repr(k) for k in KINDS) in capsys.readouterr().err


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


def _node(*keys: str) -> Any:
    """The schema of a key path, following $ref into the definitions."""
    document = schema_document("pipeline")

    def resolve(node: Any) -> Any:
        if "$ref" in node:
            return {**document["$defs"][node["$ref"].rsplit("/", 1)[1]], **node}
        return node

    node: Any = resolve(document)
    for key in keys:
        if key == "*":
            node = node["additionalProperties"]
        elif key == "[]":
            node = node["items"]
        else:
            node = node["properties"][key]
        node = resolve(node)
    return node


def _default(*keys: str) -> Any:
    return _node(*keys)["default"]


def test_every_default_the_schema_publishes_is_the_one_the_code_uses(tmp_path: Path) -> None:
    # An empty project: every value below is a default, taken by the code.
    config = load_config(tmp_path)
    health = HealthCheck.of("x", "tcp", {"host": "localhost", "port": 1})
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
        (
            ("environments", "*", "gate", "min_pass_rate"),
            config.environment("ci").gate.min_pass_rate,
        ),
        (("environments", "*", "gate", "max_findings"), config.environment("ci").gate.max_findings),
        (("environments", "*", "health", "checks", "[]", "timeout"), health.timeout),
        (("environments", "*", "health", "checks", "[]", "retries"), health.retries),
        (("environments", "*", "health", "checks", "[]", "critical"), health.critical),
        (("retention", "runs"), "7d"),
        (("retention", "deploys_by_env"), {"production": "90d"}),
    ]
    for keys, used in cases:
        assert _default(*keys) == used, keys
    assert config.retention.runs == 7 * 86400
    assert config.retention.deploys_by_env == {"production": 90 * 86400}
    deploy = ("environments", "*", "deploy")
    used = config.environment("staging").deploy
    assert _default(*deploy, "strategy") == used.strategy.value
    assert _default(*deploy, "instances") == used.instances
    assert _default(*deploy, "steps") == list(used.steps)
    assert _default(*deploy, "keep_old_for") == f"{used.keep_old_for:g}s"
    assert _default(*deploy, "analysis", "interval") == f"{used.analysis.interval:g}s"
    assert _default(*deploy, "analysis", "max_error_rate") == {
        "value": used.analysis.max_error_rate.value,  # type: ignore[union-attr]
        "op": used.analysis.max_error_rate.op,  # type: ignore[union-attr]
    }
    assert _default(*deploy, "targets")[0]["listen"] == used.targets[0].listen
    assert _node("service", "command")["default"] is None
    assert config.service.command is None
    assert _default("service", "faults") == dict(config.service.faults) == {}
