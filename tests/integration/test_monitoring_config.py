"""The monitoring stack's configuration judged by the real tools: where alerts are routed, and
which pipelines' pushes the stale-metrics alert watches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipelines.monitoring.stack import SAMPLE_VALUES, render
from tests.integration.servers import need

pytestmark = pytest.mark.integration

MONITORING = Path(__file__).resolve().parents[2] / "containers" / "monitoring"


def receivers(config: Path, **labels: str) -> list[str]:
    """The receivers Alertmanager's routing tree picks for an alert with these labels."""
    done = subprocess.run(
        [
            need("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            *(f"{name}={value}" for name, value in labels.items()),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().split(",")


@pytest.fixture
def alertmanager_config(tmp_path: Path) -> Path:
    return render(MONITORING, tmp_path, SAMPLE_VALUES)


def test_a_rollback_pages_in_production_only(alertmanager_config: Path) -> None:
    # The severity the rule gives each environment (tests/pipeline.rules.test.yml checks it).
    production = receivers(
        alertmanager_config, alertname="PipelineRolledBack", env="production", severity="critical"
    )
    staging = receivers(
        alertmanager_config, alertname="PipelineRolledBack", env="staging", severity="warning"
    )
    assert production == ["webhook", "pagerduty", "slack"]
    assert staging == ["webhook", "slack"]


def test_the_rules_pass_their_promtool_tests() -> None:
    done = subprocess.run(
        [need("promtool"), "test", "rules", "tests/pipeline.rules.test.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The stale-metrics alert selects pipelines by their grouping labels, not by one job name.
    rules = (MONITORING / "rules/pipeline.rules.yml").read_text()
    assert 'job="pipelines"' not in rules
