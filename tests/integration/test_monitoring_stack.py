"""The monitoring stack for real: validate the config with promtool and amtool, push pipeline
metrics to a Pushgateway, have Prometheus scrape and query them, and fire the repository's own
alert rule into Alertmanager, which delivers it to a local webhook receiver."""

from __future__ import annotations

import json
import shutil
import stat
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.parser import text_string_to_metric_families

from pipelines.cli import main
from pipelines.config.deploy import AnalysisSettings
from pipelines.config.health import CheckStatus, HealthCheck, HealthSettings
from pipelines.deploy.analysis import judge
from pipelines.deploy.sources import MeasureError, PrometheusSource
from pipelines.deploy.strategies import Verdict
from pipelines.health.run import run_health
from tests.integration.deploy_project import deploy_project, open_decision, stop_everything
from tests.integration.servers import (
    Receiver,
    free_port,
    need,
    server,
    serving,
    wait_until,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "containers" / "monitoring"


@dataclass
class Stack:
    prometheus: str
    alertmanager: str
    pushgateway: str
    receiver: Receiver


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin, alertmanager_bin = need("prometheus"), need("prometheus-alertmanager")
    pushgateway_bin = need("prometheus-pushgateway")
    tmp = tmp_path_factory.mktemp("stack")
    ports = {name: free_port() for name in ("prometheus", "alertmanager", "pushgateway")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    receiver = Receiver()
    (tmp / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "hook",
                    "group_by": ["alertname"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "hook", "webhook_configs": [{"url": receiver.url}]}],
            }
        )
    )
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(MONITORING / "rules" / "pipeline.rules.yml")],
                "alerting": {
                    "alertmanagers": [
                        {"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}
                    ]
                },
                "scrape_configs": [
                    {
                        "job_name": "pushgateway",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['pushgateway']}"]}],
                    }
                ],
            }
        )
    )
    with ExitStack() as stack_:
        stack_.enter_context(serving(receiver))
        stack_.enter_context(
            server(
                [pushgateway_bin, f"--web.listen-address=127.0.0.1:{ports['pushgateway']}"],
                urls["pushgateway"] + "/-/ready",
                tmp / "pushgateway.log",
            )
        )
        stack_.enter_context(
            server(
                [
                    alertmanager_bin,
                    f"--config.file={tmp / 'alertmanager.yml'}",
                    f"--storage.path={tmp / 'alertmanager-data'}",
                    f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                    "--cluster.listen-address=",
                ],
                urls["alertmanager"] + "/-/ready",
                tmp / "alertmanager.log",
            )
        )
        stack_.enter_context(
            server(
                [
                    prometheus_bin,
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                    f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                ],
                urls["prometheus"] + "/-/ready",
                tmp / "prometheus.log",
            )
        )
        yield Stack(urls["prometheus"], urls["alertmanager"], urls["pushgateway"], receiver)


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        result: list[dict[str, Any]] = json.load(response)["data"]["result"]
        return result


def project_with_decision(tmp_path: Path, pass_rate: float, threshold: float) -> Path:
    (tmp_path / "pipeline.yaml").write_text("name: shop\n")
    decision = {
        "env": "production",
        "status": "closed",
        "reasons": [],
        "rules": [
            {
                "name": "pass_rate",
                "measured": pass_rate,
                "threshold": threshold,
                "comparison": ">=",
                "verdict": "fail",
                "detail": "",
            }
        ],
        # Counts that give the pass rate (the decision's rates are computed from counts).
        "tests": {
            "passed": round(pass_rate * 2),
            "failed": 200 - round(pass_rate * 2),
            "errors": 0,
            "skipped": 1,
            "flaky": 1,
        },
        "coverage": {"source": "coverage.xml", "lines_covered": 815, "lines_valid": 1000},
    }
    (tmp_path / "reports/gate").mkdir(parents=True)
    (tmp_path / "reports/gate/decision.json").write_text(json.dumps(decision))
    return tmp_path


def test_push_scrape_query_and_alert(stack: Stack, tmp_path: Path) -> None:
    project = project_with_decision(tmp_path, 90.0, 95.0)
    assert (
        main(
            [
                "metrics",
                "-C",
                str(project),
                "--env",
                "production",
                "--pushgateway",
                stack.pushgateway,
            ]
        )
        == 0
    )
    selector = 'pipeline_test_pass_ratio{pipeline="shop", env="production", job="pipelines"}'
    wait_until(lambda: bool(query(stack.prometheus, selector)), 120, "the scraped pass ratio")
    assert float(query(stack.prometheus, selector)[0]["value"][1]) == pytest.approx(0.9)
    flaky = query(stack.prometheus, 'pipeline_tests{pipeline="shop", outcome="flaky"}')
    assert float(flaky[0]["value"][1]) == 1

    def delivered() -> list[dict[str, Any]]:
        return [
            a
            for body in stack.receiver.bodies
            for a in body.get("alerts", [])
            if a["labels"].get("alertname") == "PipelinePassRateBelowGate"
        ]

    wait_until(lambda: bool(delivered()), 180, "the alert at the webhook receiver")
    alert = delivered()[0]
    assert alert["labels"]["pipeline"] == "shop"
    assert alert["labels"]["env"] == "production"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == "shop (production): pass rate below the gate"


def test_promql_health_checks_against_prometheus(stack: Stack) -> None:
    up = HealthCheck.of(
        "prometheus-up",
        "promql",
        {"url": stack.prometheus, "query": 'up{job="pushgateway"}', "op": "==", "value": 1},
    )
    low = HealthCheck.of(
        "impossible",
        "promql",
        {"url": stack.prometheus, "query": 'up{job="pushgateway"}', "op": ">", "value": 5},
        critical=False,
    )
    missing = HealthCheck.of(
        "no-data",
        "promql",
        {"url": stack.prometheus, "query": "no_such_metric", "op": "<", "value": 1},
        critical=False,
    )
    wait_until(lambda: bool(query(stack.prometheus, 'up{job="pushgateway"}')), 120, "a scrape")
    results = {r.name: r for r in run_health("ci", HealthSettings((up, low, missing))).results}
    assert results["prometheus-up"].status is CheckStatus.PASSED
    assert results["impossible"].detail == "value 1 > 5: no"
    assert results["no-data"].detail == "the query returned no data"


class GrafanaStandIn(ThreadingHTTPServer):
    """Grafana cannot run here: this speaks its documented GET /api/health contract."""

    daemon_threads = True

    def __init__(self, database: str) -> None:
        super().__init__(("127.0.0.1", 0), _GrafanaHandler)
        self.database = database


class _GrafanaHandler(BaseHTTPRequestHandler):
    server: GrafanaStandIn

    def do_GET(self) -> None:
        ok = self.server.database == "ok"
        body = json.dumps(
            {"commit": "abc", "database": self.server.database, "version": "11.0.0"}
        ).encode()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.mark.parametrize(("database", "expected"), [("ok", 0), ("failing", 1)])
def test_monitoring_health(
    stack: Stack, tmp_path: Path, database: str, expected: int, capsys: pytest.CaptureFixture[str]
) -> None:
    grafana = GrafanaStandIn(database)
    with serving(grafana):
        (tmp_path / "pipeline.yaml").write_text(
            yaml.safe_dump(
                {
                    "monitoring": {
                        "prometheus": stack.prometheus,
                        "alertmanager": stack.alertmanager,
                        "pushgateway": stack.pushgateway,
                        "grafana": f"http://127.0.0.1:{grafana.server_address[1]}",
                    }
                }
            )
        )
        assert main(["monitoring", "health", "-C", str(tmp_path), "--json"]) == expected
    report = json.loads(capsys.readouterr().out)
    names = {c["name"]: c["status"] for c in report["checks"]}
    assert set(names) == {
        "prometheus-healthy",
        "prometheus-ready",
        "alertmanager-healthy",
        "alertmanager-status",
        "pushgateway-healthy",
        "grafana-health",
    }
    assert names["grafana-health"] == ("passed" if database == "ok" else "failed")
    assert all(status == "passed" for name, status in names.items() if name != "grafana-health")


def test_textfile_follows_the_exposition_format(tmp_path: Path) -> None:
    project = project_with_decision(tmp_path, 96.5, 95.0)
    assert main(["metrics", "-C", str(project), "--env", "ci"]) == 0
    text = (project / "reports/metrics/test_metrics.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["pipeline_test_pass_ratio"].samples[0].value == pytest.approx(0.965)
    assert families["pipeline_gate_min_pass_ratio"].samples[0].value == pytest.approx(0.95)
    assert families["pipeline_coverage_ratio"].samples[0].value == pytest.approx(0.815)
    assert {s.labels["outcome"] for s in families["pipeline_tests"].samples} == {
        "passed",
        "flaky",
        "failed",
        "error",
        "skipped",
        "xfailed",
    }
    assert all(s.labels["pipeline"] == "shop" for f in families.values() for s in f.samples)


def test_validate_passes_and_names_what_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need("promtool")
    need("amtool")
    assert main(["monitoring", "validate", "--dir", str(MONITORING)]) == 0
    broken = tmp_path / "monitoring"
    shutil.copytree(MONITORING, broken)
    rules = broken / "rules" / "service.rules.yml"
    rules.write_text(rules.read_text().replace('up{job="service"} == 0', "up{job= == 0"))
    dashboard = broken / "grafana/dashboards/pipeline.json"
    data = json.loads(dashboard.read_text())
    del data["panels"][0]["gridPos"]
    data["panels"][1]["targets"][0]["expr"] = "sum(rate(x[5m]"
    dashboard.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["monitoring", "validate", "--dir", str(broken), "--json"]) == 1
    findings = {f["check"]: f for f in json.loads(capsys.readouterr().out)}
    failed = {name for name, f in findings.items() if not f["ok"]}
    assert "promtool check rules rules/pipeline.rules.yml rules/service.rules.yml" in failed
    assert "dashboard pipeline.json structure" in failed
    assert "missing gridPos" in findings["dashboard pipeline.json structure"]["detail"]
    assert any(name.startswith("dashboard pipeline.json PromQL") for name in failed)


def test_a_missing_tool_is_an_error_not_a_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["monitoring", "validate", "--dir", str(MONITORING)]) == 2
    assert "promtool is needed" in capsys.readouterr().err


def test_render_takes_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rendered"
    assert main(["monitoring", "render", "--dir", str(MONITORING), "--out", str(out)]) == 2
    assert "set ALERT_WEBHOOK_URL, PAGERDUTY_ROUTING_KEY" in capsys.readouterr().err
    secrets = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/x",
        "SLACK_CHANNEL": "#ops",
        "PAGERDUTY_ROUTING_KEY": "k" * 32,
        "ALERT_WEBHOOK_URL": "https://h.invalid/",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    assert main(["monitoring", "render", "--dir", str(MONITORING), "--out", str(out)]) == 0
    rendered = out / "alertmanager.yml"
    assert stat.S_IMODE(rendered.stat().st_mode) == 0o600
    assert "k" * 32 in rendered.read_text()
    assert "k" * 32 not in capsys.readouterr().out


def test_a_rolled_back_deploy_fires_the_deploy_alerts(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("nginx")
    state = tmp_path / "state"
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(state))
    project = deploy_project(tmp_path)
    config = yaml.safe_load((project / "pipeline.yaml").read_text())
    config["metrics"] = {"pushgateway": stack.pushgateway}
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    open_decision(project)
    args = ["deploy", "-C", str(project), "--env", "staging"]
    try:
        assert main([*args, "--version", "1.0.0"]) == 0
        # A bad change of configuration: half the requests of the new release fail.
        config["service"]["env"] = {"SERVICE_VERSION": "{version}", "SERVICE_ERROR_RATE": "0.5"}
        (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        open_decision(project)  # the changed tree is judged again
        assert main([*args, "--version", "2.0.0"]) == 1
    finally:
        stop_everything(state)
    selector = 'pipeline_last_deploy_success{pipeline="example-service", env="staging"} == 0'
    # The first deploy's success may still be the scraped value for a moment.
    wait_until(lambda: bool(query(stack.prometheus, selector)), 120, "the failed deploy scraped")
    assert query(stack.prometheus, selector)[0]["metric"]["job"] == "pipelines-deploy"

    def fired() -> set[str]:
        return {
            a["labels"]["alertname"]
            for body in stack.receiver.bodies
            for a in body.get("alerts", [])
            if a["labels"].get("env") == "staging"
        }

    wait_until(
        lambda: {"PipelineDeployFailed", "PipelineRolledBack"} <= fired(),
        60,
        "both deploy alerts at the webhook receiver",
    )
    # A good deploy next: the rollback's series stays in the group for its alert's hour.
    config["service"]["env"] = {"SERVICE_VERSION": "{version}"}
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    open_decision(project)
    try:
        assert main([*args, "--version", "3.0.0"]) == 0
    finally:
        stop_everything(state)
    with urllib.request.urlopen(stack.pushgateway + "/metrics", timeout=10) as answer:
        pushed = answer.read().decode()
    kept = {
        (sample.name, sample.value)
        for family in text_string_to_metric_families(pushed)
        for sample in family.samples
        if sample.labels.get("job") == "pipelines-deploy" and sample.labels.get("env") == "staging"
    }
    names = {name for name, _ in kept}
    assert ("pipeline_last_deploy_success", 1.0) in kept
    assert {
        "pipeline_last_rollback_timestamp_seconds",
        "pipeline_rollback_duration_seconds",
    } <= names


def test_a_canary_judged_from_prometheus(stack: Stack) -> None:
    registry = CollectorRegistry()
    errors = Gauge("checkout_error_percent", "Errors per version.", ["version"], registry=registry)
    latency = Gauge("checkout_p95_ms", "p95 per version.", ["version"], registry=registry)
    errors.labels("2.0").set(30)
    errors.labels("1.0").set(0.2)
    latency.labels("2.0").set(40)
    latency.labels("1.0").set(35)
    push_to_gateway(stack.pushgateway.removeprefix("http://"), job="canary", registry=registry)
    source = PrometheusSource(
        stack.prometheus,
        'checkout_error_percent{version="{version}"}',
        'checkout_p95_ms{version="{version}"}',
        timeout=5,
    )
    probe = 'checkout_error_percent{version="2.0"}'
    wait_until(lambda: bool(query(stack.prometheus, probe)), 120, "the scraped canary metrics")
    new, stable = source.measure([], [], 0.0, ("2.0", "1.0"))
    assert new.rate() == 30 and new.p95() == 40
    measurement = judge(new, stable, AnalysisSettings())
    assert measurement.verdict is Verdict.FAILED
    assert [m.name for m in measurement.metrics if m.failed] == ["error_rate"]
    # Prometheus unreachable: the measurement is an error, and an error never promotes.
    gone = PrometheusSource(f"http://127.0.0.1:{free_port()}", probe, None, timeout=2)
    with pytest.raises(MeasureError, match="Prometheus at"):
        gone.measure([], [], 0.0, ("2.0", "1.0"))
