"""How long artifacts are kept, per kind (pipeline.yaml's ``retention``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pipelines.schema import Duration, MapOf, Struct, Text, dataclass_defaults

DAY = 86400.0


@dataclass(frozen=True)
class RetentionSettings:
    """Days each kind of artifact is kept (defaults: CI results a week, staging deploys a
    month, production deploys a quarter, drill reports a year)."""

    runs: float = 7 * DAY
    deploys: float = 30 * DAY
    deploys_by_env: Mapping[str, float] = field(default_factory=lambda: {"production": 90 * DAY})
    drills: float = 365 * DAY


LONGEST = timedelta(days=36500)
RETENTION = Struct(
    {
        "runs": Duration(LONGEST, "a retention may be (100 years)"),
        "deploys": Duration(LONGEST, "a retention may be (100 years)"),
        "deploys_by_env": MapOf(
            Text(r"[a-z][a-z0-9_-]*", "an environment name"),
            Duration(LONGEST, "a retention may be (100 years)"),
        ),
        "drills": Duration(LONGEST, "a retention may be (100 years)"),
    },
    defaults=dataclass_defaults(RetentionSettings),
)


def retention_settings(raw: Mapping[str, Any]) -> RetentionSettings:
    """Build from validated YAML (durations become seconds)."""
    values: dict[str, Any] = {}
    for key in ("runs", "deploys", "drills"):
        if key in raw:
            values[key] = raw[key].total_seconds()
    if "deploys_by_env" in raw:
        values["deploys_by_env"] = {
            **RetentionSettings().deploys_by_env,
            **{env: d.total_seconds() for env, d in raw["deploys_by_env"].items()},
        }
    return RetentionSettings(**values)
