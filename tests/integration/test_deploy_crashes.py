"""Kill the deploy controller with SIGKILL mid-canary, really, at several points: the stable
release keeps serving, ``status`` tells what happened, and ``deploy --resume`` or
``rollback`` brings the environment back to a consistent state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.deploy.load import LoadGenerator
from pipelines.deploy.local import marked_processes
from tests.integration.deploy_project import (
    deploy_project,
    listen,
    open_decision,
    routed,
    serves,
)

pytestmark = pytest.mark.integration

# Canary steps with steps [50, 100] and a smoke test: 0 start r2-0, 1 start r2-1, 2 smoke,
# 3 route 50%, 4 analyse, 5 route 100%, 6 stop r1-0, 7 stop r1-1.
POINTS = {
    "before-the-first-weight-change": (1, 0.0, "resume", "2.0.0"),
    "mid-analysis": (4, 0.5, "resume", "2.0.0"),
    "during-the-switch": (5, 0.0, "rollback", "1.0.0"),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_killed_controller_leaves_a_consistent_environment(
    tmp_path: Path, state: Path, point: str, capsys: pytest.CaptureFixture[str]
) -> None:
    index, delay, recovery, final = POINTS[point]
    project = deploy_project(tmp_path, analysis={"interval": "2s", "requests": 30})
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0
    journal = next(state.glob("*/staging")) / "journal.jsonl"
    before = len(journal.read_text().splitlines())
    with LoadGenerator(f"http://{listen(project)}/", rate=50) as load:
        controller = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "deploy", *args, "--version", "2.0.0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not _started_after(journal, before, index):
            assert controller.poll() is None, "the deploy ended before the kill point"
            assert time.monotonic() < deadline, f"step {index} never started"
            time.sleep(0.005)
        time.sleep(delay)
        controller.send_signal(signal.SIGKILL)
        controller.wait()
        time.sleep(0.3)  # traffic still flows with nobody in control
        capsys.readouterr()
        assert main(["status", *args, "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["last"]["status"] == "running"
        assert status["last"]["interrupted"] is True
        assert status["last"]["progress"]["local"]["done"] <= index
        if recovery == "resume":
            assert main(["deploy", *args, "--resume"]) == 0
        else:
            assert main(["rollback", *args, "--reason", "controller died"]) == 0
        time.sleep(0.3)
    assert serves(project) == final
    # Consistent: traffic goes only to instances of the serving release, all of them
    # running, and nothing else runs.
    weights = routed(state)
    records = {p.stem for p in journal.parent.glob("targets/local/instances/*.json")}
    assert set(weights) == records
    release = "r2" if final == "2.0.0" else "r1"
    assert all(name.startswith(release + "-") for name in weights)
    for record in journal.parent.glob("targets/local/instances/*.json"):
        os.kill(json.loads(record.read_text())["pid"], 0)  # alive
    # And nothing runs unrecorded (an instance started just before the kill).
    home = next(journal.parent.glob("targets/local"))
    recorded = {json.loads(r.read_text())["pid"] for r in home.glob("instances/*.json")}
    assert set(marked_processes(f"{home}/")) == recorded
    assert load.result.lost == [], load.result.lost[:3]
    stable_failures = [r for r in load.result.failed if r.version in (None, "1.0.0")]
    assert stable_failures == []
    capsys.readouterr()
    assert main(["status", *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["last"]["interrupted"] is False


def _started_after(journal: Path, skip: int, index: int) -> bool:
    if not journal.is_file():
        return False
    for line in journal.read_text().splitlines()[skip:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "step-started" and entry.get("index") == index:
            return True
    return False
