"""`pipelines abort` from another process, and SIGTERM, stop a canary deploy mid-analysis
with a real nginx in front: all traffic ends on the stable release, the deploy exits 1 and
the abort 0; with nothing in progress the abort is a usage error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.audit import DEPLOY_AUDIT
from pipelines.cli import main
from tests.integration.deploy_project import deploy_project, open_decision, routed, serves

pytestmark = pytest.mark.integration


def _analysing(journal: Path, skip: int) -> bool:
    lines = journal.read_text().splitlines()[skip:]
    return any(json.loads(line).get("event") == "analysis" for line in lines if line.strip())


def _start_long_deploy(tmp_path: Path, state: Path) -> tuple[list[str], subprocess.Popen[bytes]]:
    # 600 one-second measurements: an analysis that outlasts any test.
    project = deploy_project(tmp_path, analysis={"interval": "1s", "count": 600})
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    assert main(["deploy", *args, "--version", "1.0.0"]) == 0
    journal = next(state.glob("*/staging")) / "journal.jsonl"
    before = len(journal.read_text().splitlines())
    deploy = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "deploy", *args, "--version", "2.0.0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not _analysing(journal, before):
        assert deploy.poll() is None, "the deploy ended before its analysis"
        assert time.monotonic() < deadline, "the analysis never started"
        time.sleep(0.05)
    return args, deploy


def _assert_on_stable(args: list[str], state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = Path(args[1])
    assert serves(project) == "1.0.0"
    assert all(name.startswith("r1-") for name in routed(state))
    capsys.readouterr()
    assert main(["status", *args, "--json"]) == 0
    last = json.loads(capsys.readouterr().out)["last"]
    assert last["status"] == "rolled-back"
    assert last["reason"].startswith("aborted: ")
    assert not list(state.glob("*/staging/abort-request.json"))


def test_abort_from_another_process_rolls_a_running_canary_back(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, deploy = _start_long_deploy(tmp_path, state)
    try:
        aborted = subprocess.run(
            [sys.executable, "-m", "pipelines", "abort", *args, "--reason", "bad config"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert aborted.returncode == 0, aborted.stdout + aborted.stderr
        assert "aborted: bad config" in aborted.stdout
        assert deploy.wait(timeout=600) == 1
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    _assert_on_stable(args, state, capsys)
    audit = [json.loads(line) for line in _read(next(Path(args[1]).rglob(DEPLOY_AUDIT)))]
    assert [(e["action"], e.get("reason")) for e in audit][-1] == ("abort", "bad config")
    capsys.readouterr()
    assert main(["abort", *args]) == 2
    assert "nothing to abort in staging" in capsys.readouterr().err


def test_sigterm_to_a_running_deploy_is_an_abort(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, deploy = _start_long_deploy(tmp_path, state)
    try:
        deploy.send_signal(signal.SIGTERM)
        assert deploy.wait(timeout=600) == 1
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    _assert_on_stable(args, state, capsys)


def test_abort_after_a_killed_controller_rolls_the_unfinished_deploy_back(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, deploy = _start_long_deploy(tmp_path, state)
    deploy.send_signal(signal.SIGKILL)
    deploy.wait()
    capsys.readouterr()
    assert main(["abort", *args, "--reason", "controller died"]) == 0
    assert "aborted: controller died" in capsys.readouterr().out
    _assert_on_stable(args, state, capsys)


def _read(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]
