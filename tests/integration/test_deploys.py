"""Deploys through a real nginx to real service processes: every strategy deploys and rolls
back, guards refuse, and what a deploy leaves behind is complete."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import yaml

from pipelines.audit import AuditLog
from pipelines.cli import main
from pipelines.deploy.journal import Journal
from pipelines.deploy.load import LoadGenerator
from pipelines.deploy.nginx import Nginx
from pipelines.deploy.target import TargetError
from tests.integration.deploy_project import (
    deploy_project,
    listen,
    open_decision,
    routed,
    serves,
)

pytestmark = pytest.mark.integration


def deploy(project: Path, *args: str) -> int:
    return main(["deploy", "-C", str(project), "--env", "staging", *args])


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "canary"])
def test_every_strategy_deploys_and_rolls_back_without_losing_a_request(
    tmp_path: Path, state: Path, strategy: str
) -> None:
    project = deploy_project(tmp_path, strategy=strategy)
    open_decision(project)
    assert deploy(project, "--version", "1.0.0") == 0
    assert serves(project) == "1.0.0"
    assert set(routed(state)) == {"r1-0", "r1-1"}
    entry = json.loads(next(state.glob("*/staging/targets/local/nginx/route.json")).read_text())[
        "servers"
    ]
    assert len(entry) == 2
    with LoadGenerator(f"http://{listen(project)}/", rate=100) as load:
        assert deploy(project, "--version", "2.0.0") == 0
        assert serves(project) == "2.0.0"
        assert main(["rollback", "-C", str(project), "--env", "staging"]) == 0
    clients = load.result
    assert clients.sent > 50
    assert clients.lost == [], [r for r in clients.lost][:3]
    assert serves(project) == "1.0.0"
    assert set(routed(state)) == {"r1-0", "r1-1"}
    evidence = sorted((project / "artifacts").glob("*/deployment-manifest.json"))
    assert len(evidence) == 3
    manifest = json.loads(evidence[1].read_text())
    assert manifest["version"] == "2.0.0" and manifest["outcome"] == "succeeded"
    assert manifest["strategy"] == strategy
    assert manifest["gate_decision"]["status"] == "open"
    metrics = json.loads((evidence[1].parent / "deployment-metrics.json").read_text())
    assert metrics["steps"] and all(step["ok"] for step in metrics["steps"])
    assert (evidence[1].parent / "monitoring-config.json").is_file()
    prom = (project / "reports/metrics/deploy_metrics.prom").read_text()
    assert 'pipeline_last_rollback_timestamp_seconds{env="staging"' in prom


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "canary"])
def test_a_faulty_release_is_rolled_back_by_the_drill(
    tmp_path: Path, state: Path, strategy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path)
    fault = "crash" if strategy == "blue-green" else "errors"
    code = main(["drill", "rollback", "-C", str(project), "--env", "staging", "--json",
                 "--strategy", strategy, "--fault", fault, "--sla", "60s"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["passed"] and report["outcome"] == "rolled-back"
    assert report["final_versions"] == ["drill-good"]
    assert report["clients"]["lost"] == 0
    # Measured, and in order (how fast is benchmarks/deploy_rollback.py's business).
    timeline = report["timeline"]
    assert report["time_to_rollback_seconds"] is not None
    assert timeline["started"] <= timeline["decision"] <= timeline["traffic_on_stable"]
    kept = Path(report["evidence"]) / "drill-report.json"
    assert json.loads(kept.read_text())["passed"] is True
    # The drill ran beside the environment, not in it.
    assert not list(state.glob("*/staging/journal.jsonl"))


def test_guards_refuse_with_the_documented_exit_codes(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path)
    assert deploy(project) == 1
    assert "no gate decision for environment 'staging'" in capsys.readouterr().err
    open_decision(project, status="closed")
    assert deploy(project) == 1
    assert "pass_rate: measured 50" in capsys.readouterr().err
    assert deploy(project, "--force") == 2
    assert deploy(project, "--force", "--reason", "hotfix for the outage") == 0
    audit = (project / "artifacts/deploy-audit.jsonl").read_text().splitlines()
    actions = [json.loads(line)["action"] for line in audit]
    assert actions == ["force", "deploy-finished"]
    assert AuditLog(project / "artifacts/deploy-audit.jsonl").verify().intact
    assert main(["audit", "verify", "-C", str(project), "--deploys"]) == 0
    log = project / "artifacts/deploy-audit.jsonl"
    log.write_text(log.read_text().splitlines()[0] + "\n")  # the outcome's entry removed
    assert main(["audit", "verify", "-C", str(project), "--deploys"]) == 1


def test_production_approval_fails_closed_off_a_terminal(
    tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    project = deploy_project(tmp_path, approval="required")
    open_decision(project)
    assert deploy(project) == 1
    assert "requires approval" in capsys.readouterr().err
    monkeypatch.setenv("PIPELINES_APPROVED_BY", "release-manager")
    assert deploy(project) == 0
    entries = [
        json.loads(line)
        for line in (project / "artifacts/deploy-audit.jsonl").read_text().splitlines()
    ]
    assert entries[0]["action"] == "approve" and entries[0]["by"] == "release-manager"
    manifest = json.loads(
        next((project / "artifacts").glob("*/deployment-manifest.json")).read_text()
    )
    assert manifest["approval"]["by"] == "release-manager"


def test_a_second_deploy_of_the_same_environment_waits_its_turn(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path)
    open_decision(project)
    assert deploy(project) == 0
    journal_dir = next(state.glob("*/staging"))
    with Journal(journal_dir).lock("another deploy"):
        assert deploy(project) == 2
    assert "another deploy of this environment is running" in capsys.readouterr().err


def test_a_routing_nginx_refuses_is_never_loaded_and_the_old_one_keeps_serving(
    tmp_path: Path, state: Path
) -> None:
    project = deploy_project(tmp_path)
    open_decision(project)
    assert deploy(project, "--version", "1.0.0") == 0
    nginx = Nginx(next(state.glob("*/staging/targets/local/nginx")), listen(project))
    before = nginx.conf.read_text()
    with pytest.raises(TargetError, match="nginx refused the new routing"):
        nginx.apply({"127.0.0.1:99999": 1})  # not a port: `nginx -t` fails
    assert nginx.conf.read_text() == before
    assert serves(project) == "1.0.0"


def test_watch_rolls_back_when_an_instance_that_gets_traffic_dies(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path)
    open_decision(project)
    assert deploy(project, "--version", "1.0.0") == 0
    assert deploy(project, "--version", "2.0.0") == 0
    args = ["-C", str(project), "--env", "staging"]
    capsys.readouterr()
    assert main(["status", *args]) == 0
    shown = capsys.readouterr().out
    assert "stable r2 (2.0.0)" in shown and "| r2-0 | r2 | 50%" in shown
    assert main(["watch", *args, "--for", "1s", "--every", "250ms"]) == 0
    record = next(state.glob("*/staging/targets/local/instances/r2-1.json"))
    os.kill(json.loads(record.read_text())["pid"], signal.SIGKILL)
    capsys.readouterr()
    assert main(["watch", *args, "--for", "30s", "--every", "250ms", "--json"]) == 1
    outcome = json.loads(capsys.readouterr().out)
    assert (
        outcome["rolled_back"]
        and "r2-1 is dead: it gets traffic but is not running" in (outcome["failure"])
    )
    assert serves(project) == "1.0.0"
    events = [
        json.loads(line)["event"]
        for line in next(state.glob("*/staging/journal.jsonl")).read_text().splitlines()
    ]
    assert events.count("watch-started") == 2 and "stable-changed" in events


def test_without_automatic_rollback_a_failed_canary_pauses_until_promoted(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path, auto_rollback=False)
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0
    config = yaml.safe_load((project / "pipeline.yaml").read_text())
    config["service"]["env"] = {"SERVICE_VERSION": "{version}", "SERVICE_ERROR_RATE": "0.5"}
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    open_decision(project)  # the changed tree is judged again
    assert main(["deploy", *args, "--version", "2.0.0"]) == 1
    assert serves(project) == "1.0.0"  # traffic went back to stable...
    capsys.readouterr()
    assert main(["status", *args, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["last"]["status"] == "paused"
    assert {"r2-0", "r2-1"} <= set(status["targets"]["local"]["running"])  # ...r2 was kept
    assert main(["promote", *args, "--reason", "errors are expected in this test"]) == 0
    assert set(routed(state)) == {"r2-0", "r2-1"}  # (r2 answers half its requests with 500)
    actions = [
        json.loads(line)["action"]
        for line in (project / "artifacts/deploy-audit.jsonl").read_text().splitlines()
    ]
    assert "promote" in actions


def test_stop_then_restore_brings_back_the_recorded_stable_release(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path)
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert deploy(project, "--version", "1.0.0") == 0
    assert deploy(project, "--version", "2.0.0") == 0
    assert main(["stop", *args, "--reason", "maintenance"]) == 0
    with pytest.raises(OSError):
        serves(project)  # nothing listens any more
    capsys.readouterr()
    assert main(["status", *args]) == 1  # below capacity, and it says why
    assert "last operation: stopped: maintenance" in capsys.readouterr().out
    assert main(["restore", *args]) == 0
    assert serves(project) == "2.0.0"  # the recorded stable release, not an older one
    assert set(routed(state)) == {"r2-0", "r2-1"}
    capsys.readouterr()
    assert main(["status", *args]) == 0
    assert "last operation: restore of r2" in capsys.readouterr().out
