"""What a deploy does around its strategy, against real nginx and real processes: a stable
release that no longer runs is restored before a new one is judged against it, pauses and
manual gates wait for promote, and the routing a dead controller left is told as nginx
serves it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.deploy.nginx import Nginx
from tests.integration.deploy_project import (
    deploy_project,
    open_decision,
    routed,
    serves,
    stop_everything,
)
from tests.integration.servers import free_port

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


def test_blue_green_waits_for_promote_before_the_switch_and_analyses_after_it(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(
        tmp_path, strategy="blue-green", auto_promote=False, post_promotion_analysis=True
    )
    config = yaml.safe_load((project / "pipeline.yaml").read_text())
    preview = f"127.0.0.1:{free_port()}"
    config["environments"]["staging"]["deploy"]["targets"][0]["preview_listen"] = preview
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0  # a first deploy: no gate
    assert main(["deploy", *args, "--version", "2.0.0"]) == 1  # paused before the switch
    assert serves(project) == "1.0.0"
    with urllib.request.urlopen(f"http://{preview}/", timeout=10) as answer:
        assert json.load(answer)["version"] == "2.0.0"  # the new pool, before anyone else
    capsys.readouterr()
    assert main(["status", *args, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["last"]["status"] == "paused"
    assert status["last"]["progress"]["local"]["current"] == "pause until `pipelines promote`"
    assert status["last_operation"].startswith("deploy r2-staging: paused")
    assert {"r2-0", "r2-1"} <= set(status["targets"]["local"]["running"])
    assert main(["promote", *args, "--reason", "looked at it"]) == 0
    assert serves(project) == "2.0.0"
    evidence = sorted((project / "artifacts").glob("*/deployment-metrics.json"))[-1]
    analysed = [
        step["description"] for step in json.loads(evidence.read_text())["steps"]
        if step["step"]["kind"] == "analyse"
    ]  # fmt: skip
    assert analysed == ["analyse r2-0+r2-1 at 100% against r1-0+r1-1"]  # after the switch


def test_a_canary_pause_is_continued_by_a_full_promotion(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path, steps=[25, {"pause": None}, 50, 75, 100])
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0
    assert main(["deploy", *args, "--version", "2.0.0"]) == 1  # paused at 25%
    assert set(_served_versions(project)) == {"1.0.0", "2.0.0"}
    capsys.readouterr()
    assert main(["promote", *args, "--full", "--json"]) == 0
    outcome = json.loads(capsys.readouterr().out.splitlines()[-1])
    metrics = json.loads((Path(outcome["evidence"]) / "deployment-metrics.json").read_text())
    assert metrics["analysis"] == []  # nothing analysed at 50% or 75%
    assert set(_served_versions(project)) == {"2.0.0"}
    audit = (project / "artifacts/deploy-audit.jsonl").read_text()
    assert "(full promotion)" in audit


def _served_versions(project: Path, requests: int = 40) -> list[str]:
    return [serves(project) for _ in range(requests)]


class Killed(BaseException):
    """Stands in for SIGKILL: nothing on the way out may catch it."""


def test_a_controller_killed_right_after_a_reload_leaves_status_telling_what_nginx_serves(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    project = deploy_project(tmp_path, strategy="blue-green")
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0
    reload = Nginx._run

    def reload_and_die(self: Nginx, argv: list[str]) -> None:
        reload(self, argv)
        if "reload" not in argv:
            return
        # The switch took: nginx serves only the new generation (its old worker gone)...
        newest = self.routings()[-1].generation
        deadline, answers = time.monotonic() + 60, 0
        while answers < 20:
            assert time.monotonic() < deadline, "nginx never served the new routing alone"
            live = self.live()
            answers = answers + 1 if live and live[0] == newest else 0
            time.sleep(0.02)
        raise Killed  # ...and the controller dies before it wrote down what it did

    with monkeypatch.context() as patched:
        patched.setattr(Nginx, "_run", reload_and_die)
        assert main(["deploy", *args, "--version", "2.0.0"]) != 0
    assert serves(project) == "2.0.0"
    capsys.readouterr()
    assert main(["status", *args, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["last"]["interrupted"] is True
    assert set(status["targets"]["local"]["weights"]) == {"r2-0", "r2-1"}  # what nginx serves
    assert set(routed(state)) == {"r2-0", "r2-1"}  # and the weights file says so again
    assert main(["rollback", *args, "--reason", "controller died"]) == 0
    assert serves(project) == "1.0.0"
    assert set(routed(state)) == {"r1-0", "r1-1"}


def test_status_and_watch_name_a_hung_instance(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploy_project(tmp_path)
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0
    assert main(["deploy", *args, "--version", "2.0.0"]) == 0
    record = next(state.glob("*/staging/targets/local/instances/r2-1.json"))
    pid = json.loads(record.read_text())["pid"]
    os.kill(pid, signal.SIGSTOP)  # it runs, and answers nothing
    try:
        capsys.readouterr()
        assert main(["status", *args, "--json"]) == 1  # serving below capacity
        status = json.loads(capsys.readouterr().out)
        assert status["targets"]["local"]["unhealthy"] == ["r2-1"]
        assert status["below_capacity"] == ["local: 1 of 2 instances serve"]
        assert main(["watch", *args, "--for", "30s", "--every", "250ms", "--json"]) == 1
        outcome = json.loads(capsys.readouterr().out)
        assert "r2-1 is hung" in outcome["failure"] and outcome["rolled_back"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    assert serves(project) == "1.0.0"
