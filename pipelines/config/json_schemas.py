"""The JSON Schemas of pipeline.yaml and flags.yaml, emitted from the same declared types that
validate them (so the schema an editor checks against is the one the SDK applies), and of the
plan (``pipelines plan --json``), emitted from the plan's own types: the contract the Dagger
module reads, tested from both sides against the published file."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec

from pipelines.config.pipeline import RUN_IF, CustomStageFile, PipelineFile
from pipelines.config.schema import json_schema
from pipelines.flags.model import FlagsFile
from pipelines.plan import FRESHNESS, PLAN_VERSION, PlannedStage

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def plan_schema() -> dict[str, Any]:
    """The plan's JSON form: ``Plan`` around ``PlannedStage``'s own schema."""
    stage_schema = msgspec.json.schema(PlannedStage)
    stage = stage_schema["$defs"]["PlannedStage"]
    stage["additionalProperties"] = False
    stage["properties"]["run_if"]["enum"] = list(RUN_IF)
    stage["properties"]["freshness"]["enum"] = list(FRESHNESS)
    stage["properties"]["timeout"]["anyOf"][0]["exclusiveMinimum"] = 0
    named = {"type": "string", "minLength": 1}
    skipped = {
        "type": "object",
        "properties": {"name": named, "reason": {"type": "string"}},
        "required": ["name", "reason"],
        "additionalProperties": False,
    }
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "portable-pipelines plan",
        "description": "What `pipelines plan --json` prints: the stages of one environment.",
        "type": "object",
        "properties": {
            "version": {"const": PLAN_VERSION},
            "pipeline": {"type": "string"},
            "env": {"type": "string"},
            "stages": {"type": "array", "items": {"$ref": "#/$defs/PlannedStage"}},
            "skipped": {"type": "array", "items": skipped},
            # Only with `--runner NAME`: where the stages would run.
            "runner": {
                "type": "object",
                "properties": {
                    "name": named,
                    "python": {"type": "string"},
                    "image": {"type": ["string", "null"]},
                },
                "required": ["name", "python", "image"],
                "additionalProperties": False,
            },
        },
        "required": ["version", "pipeline", "env", "stages"],
        "additionalProperties": False,
        "$defs": stage_schema["$defs"],
    }


def _config_schema(kind: str, *types: type) -> Callable[[], dict[str, Any]]:
    def document() -> dict[str, Any]:
        title = f"portable-pipelines {kind}.yaml"
        return {"$schema": SCHEMA_DIALECT, "title": title, **json_schema(*types)}

    return document


# Every published schema by kind (``pipelines schema KIND``, docs/schema/KIND.schema.json).
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "pipeline": _config_schema("pipeline", PipelineFile, CustomStageFile),
    "flags": _config_schema("flags", FlagsFile),
    "plan": plan_schema,
}
KINDS = tuple(SCHEMAS)


def schema_document(kind: str) -> dict[str, Any]:
    """The JSON Schema of ``pipeline`` (pipeline.yaml), ``flags`` (flags.yaml) or ``plan``
    (what ``pipelines plan --json`` prints)."""
    return SCHEMAS[kind]()


def schema_text(kind: str) -> str:
    """The schema as the files under docs/schema/ hold it."""
    return json.dumps(schema_document(kind), indent=2, sort_keys=True) + "\n"
