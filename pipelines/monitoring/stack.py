"""The monitoring stack's configuration: validation with the real tools, rendering of the
Alertmanager config from the environment, and health probes of the running stack."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from pipelines import atomic
from pipelines.config.envvars import expand_env
from pipelines.config.health import HealthCheck, HealthSettings, HttpProbe
from pipelines.config.pipeline import MonitoringSettings
from pipelines.config.schema import ScalarText
from pipelines.errors import ToolError, UsageError
from pipelines.process import ToolNotFound, run_tool

GRAFANA_INTERVALS = re.compile(r"\$__(rate_)?interval|\$__range")
# Placeholder values used only to check the structure of alertmanager.yml.
SAMPLE_VALUES = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T0/B0/x",
    "SLACK_CHANNEL": "#alerts",
    "PAGERDUTY_ROUTING_KEY": "0123456789abcdef0123456789abcdef",
    "ALERT_WEBHOOK_URL": "https://alerts.invalid/hook",
}
PANEL_KEYS = ("type", "gridPos", "datasource", "targets")
# A dashboard names its Prometheus through this variable, never by a fixed uid: the import
# dialog asks for it (``__inputs``) and a provisioned copy resolves it to the default source.
DATASOURCE_VARIABLE = "DS_PROMETHEUS"
DATASOURCE_REF = "${" + DATASOURCE_VARIABLE + "}"
# Grafana 10.4 and later read this dashboard model without migrating it.
MIN_SCHEMA_VERSION = 39


class Finding(msgspec.Struct, frozen=True):
    """One validation step: what was checked and whether it passed."""

    check: str
    ok: bool
    detail: str = ""


def render_alertmanager(template: Path, environ: Mapping[str, str]) -> str:
    """Fill every ${NAME} from ``environ``; a missing variable is a usage error naming it."""
    return expand_env(template.read_text(encoding="utf-8"), environ, str(template))


def render(config_dir: Path, out: Path, environ: Mapping[str, str]) -> Path:
    """Write the rendered alertmanager.yml, readable by its owner only (it holds secrets)."""
    text = render_alertmanager(config_dir / "alertmanager.yml", environ)
    target = out / "alertmanager.yml"
    atomic.write_text(target, text)
    target.chmod(0o600)
    return target


def _tool(argv: list[str], cwd: Path) -> tuple[bool, str]:
    try:
        done = run_tool(argv, cwd=cwd, timeout=120)
    except ToolNotFound as exc:
        raise UsageError(
            f"{argv[0]} is needed to validate the monitoring config but is not installed",
            hint="install Prometheus and Alertmanager (Debian: apt-get install prometheus "
            "prometheus-alertmanager)",
        ) from exc
    output = (done.stdout + done.stderr).strip()
    return done.returncode == 0, output.splitlines()[-1] if output else ""


def validate(config_dir: Path) -> list[Finding]:
    """promtool check config/rules, promtool test rules, amtool check-config, dashboards."""
    if not (config_dir / "prometheus.yml").is_file():
        raise UsageError(
            f"{config_dir}: no prometheus.yml here", hint="pass the monitoring directory with --dir"
        )
    findings: list[Finding] = []
    ok, detail = _tool(["promtool", "check", "config", "prometheus.yml"], config_dir)
    findings.append(Finding("promtool check config prometheus.yml", ok, detail))
    rules = sorted(str(p.relative_to(config_dir)) for p in (config_dir / "rules").glob("*.yml"))
    if rules:
        ok, detail = _tool(["promtool", "check", "rules", *rules], config_dir)
        findings.append(Finding("promtool check rules " + " ".join(rules), ok, detail))
    tests = sorted(str(p.relative_to(config_dir)) for p in (config_dir / "tests").glob("*.yml"))
    for test in tests:
        ok, detail = _tool(["promtool", "test", "rules", test], config_dir)
        findings.append(Finding(f"promtool test rules {test}", ok, detail))
    with tempfile.TemporaryDirectory(prefix="pipelines-monitoring-") as tmp:
        sample = render(config_dir, Path(tmp), {**SAMPLE_VALUES, **_set(os.environ)})
        ok, detail = _tool(["amtool", "check-config", str(sample)], config_dir)
        findings.append(Finding("amtool check-config alertmanager.yml", ok, detail))
        for dashboard in sorted((config_dir / "grafana" / "dashboards").glob("*.json")):
            findings.extend(check_dashboard(dashboard, Path(tmp)))
    return findings


def _set(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in SAMPLE_VALUES and v}


def check_dashboard(path: Path, scratch: Path) -> list[Finding]:
    """Structure of a Grafana dashboard, and every PromQL expression parsed by promtool."""
    name = f"dashboard {path.name}"
    try:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [Finding(name, False, f"not JSON: {exc}")]
    if not isinstance(dashboard, dict):
        return [Finding(name, False, "not a JSON object")]
    problems = dashboard_problems(dashboard)
    expressions: list[tuple[str, str]] = []
    for index, panel in enumerate(_objects(dashboard.get("panels"))):
        label = f"panel {panel.get('title') or index}"
        expressions.extend(
            (label, str(target["expr"]))
            for target in _objects(panel.get("targets"))
            if target.get("expr")
        )
    findings = [Finding(f"{name} structure", not problems, "; ".join(problems))]
    if expressions:
        findings.append(_parse_promql(name, expressions, scratch))
    return findings


def _objects(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def dashboard_problems(dashboard: dict[str, Any]) -> list[str]:
    """What keeps a dashboard from importing or provisioning into any current Grafana."""
    problems = [
        f"missing {key}" for key in ("uid", "title", "schemaVersion") if not dashboard.get(key)
    ]
    version = dashboard.get("schemaVersion")
    if isinstance(version, int) and version < MIN_SCHEMA_VERSION:
        problems.append(f"schemaVersion {version} is older than {MIN_SCHEMA_VERSION}")
    inputs = {i.get("name"): i for i in _objects(dashboard.get("__inputs"))}
    if inputs.get(DATASOURCE_VARIABLE, {}).get("pluginId") != "prometheus":
        problems.append(f"__inputs: no Prometheus data source input {DATASOURCE_VARIABLE}")
    variables = _objects((dashboard.get("templating") or {}).get("list"))
    if not any(
        v.get("name") == DATASOURCE_VARIABLE and v.get("type") == "datasource" for v in variables
    ):
        problems.append(f"templating: no datasource variable {DATASOURCE_VARIABLE}")
    panels = _objects(dashboard.get("panels"))
    if not panels:
        problems.append("no panels")
    holders = [(f"variable {v.get('name')}", v) for v in variables if v.get("type") == "query"]
    for index, panel in enumerate(panels):
        label = f"panel {panel.get('title') or index}"
        problems.extend(f"{label}: missing {key}" for key in PANEL_KEYS if not panel.get(key))
        holders.append((label, panel))
        for target in _objects(panel.get("targets")):
            if not target.get("expr"):
                problems.append(f"{label}: a target without expr")
            if "datasource" in target:
                holders.append((f"{label} target {target.get('refId', '?')}", target))
    for label, holder in holders:
        source = holder.get("datasource")
        uid = source.get("uid") if isinstance(source, dict) else source
        if uid != DATASOURCE_REF:
            problems.append(f"{label}: datasource {uid!r} is not {DATASOURCE_REF}")
    return problems


def _parse_promql(name: str, expressions: list[tuple[str, str]], scratch: Path) -> Finding:
    """Each expression as a recording rule, so promtool's own parser judges it."""
    rules = [
        {"record": f"dashboard:expr_{i}", "expr": GRAFANA_INTERVALS.sub("5m", expr)}
        for i, (_label, expr) in enumerate(expressions)
    ]
    rule_file = scratch / f"{name.replace(' ', '_')}.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    ok, detail = _tool(["promtool", "check", "rules", str(rule_file)], scratch)
    return Finding(f"{name} PromQL ({len(expressions)} expressions)", ok, detail)


def stack_checks(settings: MonitoringSettings) -> HealthSettings:
    """Health checks of every configured part of the stack."""
    checks: list[HealthCheck] = []

    def http(
        name: str, base: str | None, path: str, json_path: str | None = None, equals: str = ""
    ) -> None:
        if base:
            probe = HttpProbe(
                base.rstrip("/") + path,
                json_path=json_path,
                json_equals=ScalarText(equals) if equals else None,
            )
            checks.append(HealthCheck(name=name, http=probe, timeout=5.0, retries=1))

    http("prometheus-healthy", settings.prometheus, "/-/healthy")
    http("prometheus-ready", settings.prometheus, "/-/ready")
    http("alertmanager-healthy", settings.alertmanager, "/-/healthy")
    http("alertmanager-status", settings.alertmanager, "/api/v2/status", json_path="uptime")
    http("pushgateway-healthy", settings.pushgateway, "/-/healthy")
    http("grafana-health", settings.grafana, "/api/health", json_path="database", equals="ok")
    if not checks:
        raise UsageError(
            "no monitoring URLs are configured",
            hint="set monitoring.prometheus, alertmanager, pushgateway or grafana in pipeline.yaml",
        )
    return HealthSettings(tuple(checks), concurrency=8, deadline=30.0)


__all__ = ["Finding", "ToolError", "check_dashboard", "render", "stack_checks", "validate"]
