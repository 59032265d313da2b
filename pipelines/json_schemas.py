"""The JSON Schemas of pipeline.yaml and flags.yaml, emitted from the same declared types that
validate them (so the schema an editor checks against is the one the SDK applies)."""

from __future__ import annotations

import json
from typing import Any

from pipelines.config import CustomStageFile, PipelineFile
from pipelines.flags.model import FlagsFile
from pipelines.schema import json_schema

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("pipeline", "flags")


def schema_document(kind: str) -> dict[str, Any]:
    """The JSON Schema of ``pipeline`` (pipeline.yaml) or ``flags`` (flags.yaml)."""
    title = f"portable-pipelines {kind}.yaml"
    schema = (
        json_schema(PipelineFile, CustomStageFile) if kind == "pipeline" else json_schema(FlagsFile)
    )
    return {"$schema": SCHEMA_DIALECT, "title": title, **schema}


def schema_text(kind: str) -> str:
    """The schema as the files under docs/schema/ hold it."""
    return json.dumps(schema_document(kind), indent=2, sort_keys=True) + "\n"
