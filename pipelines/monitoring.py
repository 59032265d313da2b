"""The monitoring stack's configuration: validation with the real tools, rendering of the
Alertmanager config from the environment, and health probes of the running stack."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines import atomic
from pipelines.config import MonitoringSettings
from pipelines.envvars import expand_env
from pipelines.errors import ToolError, UsageError
from pipelines.health.spec import HealthCheck, HealthSettings, HttpProbe
from pipelines.process import ToolNotFound, run_tool
from pipelines.schema import ScalarText

GRAFANA_INTERVALS = re.compile(r"\$__(rate_)?interval|\$__range")
# Placeholder values used only to check the structure of alertmanager.yml.
SAMPLE_VALUES = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T0/B0/x",
    "SLACK_CHANNEL": "#alerts",
    "PAGERDUTY_ROUTING_KEY": "0123456789abcdef0123456789abcdef",
    "ALERT_WEBHOOK_URL": "https://alerts.invalid/hook",
}
PANEL_KEYS = ("type", "gridPos", "datasource", "targets")


@dataclass(frozen=True)
class Finding:
    """One validation step: what was checked and whether it passed."""

    check: str
    ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Serialise for --json."""
        return {"check": self.check, "ok": self.ok, "detail": self.detail}


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
    problems = [
        f"missing {key}" for key in ("uid", "title", "schemaVersion") if not dashboard.get(key)
    ]
    expressions: list[tuple[str, str]] = []
    panels = dashboard.get("panels") or []
    if not panels:
        problems.append("no panels")
    for index, panel in enumerate(panels):
        label = f"panel {panel.get('title') or index}"
        problems.extend(f"{label}: missing {key}" for key in PANEL_KEYS if not panel.get(key))
        for target in panel.get("targets") or []:
            if not target.get("expr"):
                problems.append(f"{label}: a target without expr")
            else:
                expressions.append((label, str(target["expr"])))
    findings = [Finding(f"{name} structure", not problems, "; ".join(problems))]
    if expressions:
        findings.append(_parse_promql(name, expressions, scratch))
    return findings


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
