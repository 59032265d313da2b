"""What a deploy does around its strategy, against real nginx and real processes: a stable
release that no longer runs is restored before a new one is judged against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from tests.integration.deploy_project import (
    deploy_project,
    open_decision,
    serves,
    stop_everything,
)

pytestmark = pytest.mark.integration


def _faulty(project: Path) -> None:
    """Every release from now on answers half its requests with 500 (judged again)."""
    config = yaml.safe_load((project / "pipeline.yaml").read_text())
    config["service"]["env"] = {"SERVICE_VERSION": "{version}", "SERVICE_ERROR_RATE": "0.5"}
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    open_decision(project)


def test_after_a_reboot_the_stable_release_is_restored_and_a_faulty_one_is_analysed(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path)
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0
    stop_everything(state)  # a reboot: nginx and every instance gone, the state kept
    with pytest.raises(OSError):
        serves(project)
    _faulty(project)
    capsys.readouterr()
    assert main(["deploy", *args, "--version", "2.0.0", "--json"]) == 1
    outcome = json.loads(capsys.readouterr().out.splitlines()[-1])  # after the log lines
    assert outcome["status"] == "rolled-back", outcome
    assert any("restored the stable release r1" in note for note in outcome["notes"])
    assert serves(project) == "1.0.0"
    # The faulty release was measured against the restored one before it was rolled back.
    metrics = json.loads((Path(outcome["evidence"]) / "deployment-metrics.json").read_text())
    assert metrics["analysis"] and metrics["analysis"][-1]["verdict"] == "Failed"
    actions = [
        json.loads(line)["action"]
        for line in (project / "artifacts/deploy-audit.jsonl").read_text().splitlines()
    ]
    assert actions.index("restore") < actions.index("deploy-finished", 1)


def test_a_stable_release_that_cannot_be_restored_refuses_the_deploy(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path)
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0
    stop_everything(state)
    # Its snapshot is damaged too: the stable release cannot come back.
    snapshot = next(state.glob("*/staging/releases/r1"))
    (snapshot / "service/__main__.py").write_text("raise SystemExit('damaged')\n")
    capsys.readouterr()
    assert main(["deploy", *args, "--version", "2.0.0"]) == 1
    err = capsys.readouterr().err
    assert "the stable release r1 (1.0.0) of staging does not serve" in err
    assert "pipelines restore --env staging" in err
    assert not list(state.glob("*/staging/targets/local/instances/r2-*.json"))
