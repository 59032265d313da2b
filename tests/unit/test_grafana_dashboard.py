"""The Grafana dashboard imports into any current Grafana: a data source chosen at import (or the
default one when provisioned), never a fixed uid."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.monitoring.stack import DATASOURCE_REF, MIN_SCHEMA_VERSION, dashboard_problems

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "containers/monitoring/grafana/dashboards/pipeline.json"
)


@pytest.fixture
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def test_the_shipped_dashboard_has_no_problems(dashboard: dict[str, Any]) -> None:
    assert dashboard_problems(dashboard) == []
    assert dashboard["schemaVersion"] >= MIN_SCHEMA_VERSION
    assert dashboard["__inputs"] == [
        {
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "description": "The Prometheus that scrapes the Pushgateway and the service",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }
    ]
    required = {(r["type"], r["id"]) for r in dashboard["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    # Every panel type used is declared, so the import dialog can say what is missing.
    assert {p["type"] for p in dashboard["panels"]} <= {i for t, i in required if t == "panel"}
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("pipeline", "env"):
        assert variables[name]["datasource"] == {"type": "prometheus", "uid": DATASOURCE_REF}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_REF}
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert all(t["refId"] and t["expr"] for t in panel["targets"])


def test_a_fixed_datasource_uid_is_named(dashboard: dict[str, Any]) -> None:
    broken = copy.deepcopy(dashboard)
    broken["panels"][1]["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    title = broken["panels"][1]["title"]
    assert dashboard_problems(broken) == [
        f"panel {title}: datasource 'prometheus' is not ${{DS_PROMETHEUS}}"
    ]


def test_import_inputs_and_the_variable_are_required(dashboard: dict[str, Any]) -> None:
    broken = copy.deepcopy(dashboard)
    del broken["__inputs"]
    broken["templating"]["list"] = [
        v for v in broken["templating"]["list"] if v["name"] != "DS_PROMETHEUS"
    ]
    broken["schemaVersion"] = 16
    assert dashboard_problems(broken) == [
        f"schemaVersion 16 is older than {MIN_SCHEMA_VERSION}",
        "__inputs: no Prometheus data source input DS_PROMETHEUS",
        "templating: no datasource variable DS_PROMETHEUS",
    ]
