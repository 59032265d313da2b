"""The deploy gauges apart from a run's: names of their own, every environment's series kept
in one textfile, and a rollback's series kept for its alert's window."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.config.pipeline import load_config
from pipelines.deploy import metrics as deploy_series
from pipelines.deploy.controller import DeployReport
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.metrics import ROLLBACK_WINDOW, DeployGauges
from pipelines.deploy.outcome import record
from pipelines.deploy.records import ApprovalRecord, GateRecord
from pipelines.deploy.target import Release
from pipelines.layout import Layout
from pipelines.monitoring.metrics import RunMetrics, build_registry

ROOT = Path(__file__).resolve().parents[2]


def _series(text: str) -> dict[tuple[str, str], float]:
    """(metric name, env) -> value."""
    return {
        (sample.name, sample.labels["env"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _env(tmp_path: Path, env: str) -> DeployEnv:
    project = tmp_path / "shop"
    project.mkdir(exist_ok=True)
    (project / "pipeline.yaml").write_text("version: 1\nname: shop\n")
    environ = {"PIPELINES_STATE_DIR": str(tmp_path / "state")}
    return DeployEnv.open(project, load_config(project), env, Layout.of(project, {}), environ)


def _report(tmp_path: Path, env: str, status: DeployStatus) -> DeployReport:
    old = Release("r1", "1.0.0", "abc", tmp_path)
    new = Release("r2", "2.0.0", "def", tmp_path)
    report = DeployReport(f"r2-{env}", new, old, "canary", status)
    report.timeline.started = 100.0
    report.timeline.finished = 110.0
    if status is DeployStatus.ROLLED_BACK:
        report.timeline.decision = 105.0
        report.timeline.traffic_on_stable = report.timeline.cleanup = 106.0
    return report


def test_a_production_deploy_keeps_the_staging_series(tmp_path: Path) -> None:
    for env in ("staging", "production"):
        denv = _env(tmp_path, env)
        record(
            denv,
            _report(tmp_path, env, DeployStatus.SUCCEEDED),
            action="deploy",
            approval=ApprovalRecord(required=False),
            gate=GateRecord(status="open"),
        )
    text = (denv.layout.stage("metrics") / "deploy_metrics.prom").read_text()
    values = _series(text)
    assert values[("pipeline_last_deploy_success", "staging")] == 1
    assert values[("pipeline_last_deploy_success", "production")] == 1
    assert values[("pipeline_last_deploy_timestamp_seconds", "staging")] == 110.0


def test_deploy_series_share_no_name_with_the_run_metrics() -> None:
    run = RunMetrics("shop", "staging", {"test": 1.0}, {"test": True}, finished_at=110.0)
    run_names = {f.name for f in text_string_to_metric_families(generate_latest(
        build_registry(run)).decode())}  # fmt: skip
    gauges = DeployGauges(
        pipeline="shop", env="staging", deploy_seconds=3.0, deploy_succeeded=False,
        finished_at=110.0, rollback_seconds=1.0, rollback_at=106.0,
    )  # fmt: skip
    deploy_text = generate_latest(deploy_series.registry([gauges])).decode()
    deploy_names = {f.name for f in text_string_to_metric_families(deploy_text)}
    assert len(deploy_names) == 5
    assert not run_names & deploy_names  # node_exporter refuses a series in two files


@pytest.mark.parametrize(("later", "kept"), [(600.0, True), (ROLLBACK_WINDOW + 1, False)])
def test_a_rollback_series_outlives_the_next_deploy_for_its_alert_window(
    tmp_path: Path, later: float, kept: bool
) -> None:
    rolled_back = DeployGauges(
        pipeline="shop", env="staging", deploy_succeeded=False, rollback_at=1000.0,
        rollback_seconds=0.4, finished_at=1000.0,
    )  # fmt: skip
    deploy_series.update(tmp_path, rolled_back, now=1000.0)
    promoted = DeployGauges(
        pipeline="shop", env="staging", deploy_succeeded=True, finished_at=1000.0 + later
    )
    series, note = deploy_series.update(tmp_path, promoted, now=1000.0 + later)
    assert note == ""
    staging = series.envs["staging"]
    assert staging.deploy_succeeded is True
    assert (staging.rollback_at == 1000.0) is kept
    assert (deploy_series.ROLLBACK_TIMESTAMP in staging.values()) is kept


def test_the_window_is_the_one_the_alert_rule_looks_at() -> None:
    rules = yaml.safe_load((ROOT / "containers/monitoring/rules/pipeline.rules.yml").read_text())
    alerts = {r["alert"]: r for group in rules["groups"] for r in group["rules"]}
    expression = alerts["PipelineRolledBack"]["expr"]
    assert deploy_series.ROLLBACK_TIMESTAMP in expression
    window = re.search(r"<\s*(\d+)", expression)
    assert window is not None and float(window.group(1)) == ROLLBACK_WINDOW


def test_a_damaged_series_file_starts_afresh_and_says_so(tmp_path: Path) -> None:
    (tmp_path / deploy_series.SERIES).write_text("{not json")
    gauges = DeployGauges(pipeline="shop", env="staging", deploy_succeeded=True)
    series, note = deploy_series.update(tmp_path, gauges, now=0.0)
    assert "start afresh" in note and set(series.envs) == {"staging"}
