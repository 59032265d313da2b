"""The plan's published JSON Schema is the contract: what `pipelines plan --json` prints
satisfies it, and the Dagger module's parser reads every key it defines (or leaves it to the
SDK on purpose), so neither side can drift from it unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci" / "src"))

from ci.plan_exec import STAGE_KEYS_IGNORED, STAGE_KEYS_READ, PlanError, parse_plan  # noqa: E402

PUBLISHED = ROOT / "docs" / "schema" / "plan.schema.json"


def published() -> Any:
    return json.loads(PUBLISHED.read_text())


def printed(project: Path, env: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "plan", "-C", str(project), "--env", env, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("project", "env"),
    [(ROOT, "ci"), (ROOT, "container"), (ROOT / "examples" / "service", "production")],
)
def test_what_the_sdk_prints_satisfies_the_published_schema(project: Path, env: str) -> None:
    plan = printed(project, env)
    validator = jsonschema.Draft202012Validator(published())
    assert [e.message for e in validator.iter_errors(plan)] == []
    # ... and the module reads it.
    assert [s.name for s in parse_plan(json.dumps(plan)).stages] == [
        s["name"] for s in plan["stages"]
    ]


def test_the_module_reads_every_stage_key_or_leaves_it_on_purpose() -> None:
    stage = published()["$defs"]["PlannedStage"]
    assert set(stage["properties"]) == {*STAGE_KEYS_READ, *STAGE_KEYS_IGNORED}
    assert set(stage["required"]) <= set(STAGE_KEYS_READ)


def test_every_key_the_schema_allows_reaches_the_module_stage() -> None:
    full = {
        "name": "test",
        "run": [["pipelines", "stage", "test"]],
        "needs": [],
        "env": {"A": "1"},
        "outputs": ["test/junit.xml"],
        "image": "toolchain",
        "run_if": "always",
        "timeout": 600,
        "tools": [["pytest"]],
        "source": "read-only",
        "freshness": "daily",
    }
    document = {"version": 1, "pipeline": "p", "env": "ci", "stages": [full], "skipped": []}
    jsonschema.validate(document, published())
    stage = parse_plan(json.dumps(document)).stage("test")
    assert (stage.env, stage.outputs, stage.run_if, stage.timeout, stage.freshness) == (
        {"A": "1"},
        ("test/junit.xml",),
        "always",
        600.0,
        "daily",
    )
    for key in published()["$defs"]["PlannedStage"]["required"]:
        broken = {k: v for k, v in full.items() if k != key}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**document, "stages": [broken]}, published())
        with pytest.raises(PlanError):
            parse_plan(json.dumps({**document, "stages": [broken]}))


def test_a_stage_key_the_module_does_not_know_is_refused() -> None:
    stage = {"name": "test", "run": [["x"]], "retries": 3}
    document = {"version": 1, "pipeline": "p", "env": "ci", "stages": [stage]}
    with pytest.raises(PlanError, match="stage keys this module does not know: retries"):
        parse_plan(json.dumps(document))
