"""Ctrl-C in the middle of a run: the running stage goes, the run says what had finished, and
its manifest records the interruption."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline_files import ONLY_OWN_STAGES

pytestmark = pytest.mark.integration

PIPELINE = (
    ONLY_OWN_STAGES
    + """
  quick:
    python: tool
    run: [[python, -c, "print('done')"]]
  slow:
    python: tool
    needs: [quick]
    run: [[python, -c, "import time; time.sleep(120)"]]
"""
)


def test_an_interrupted_run_reports_what_finished_and_keeps_no_stale_decision(
    tmp_path: Path,
) -> None:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    stale = tmp_path / "reports" / "gate" / "decision.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"status": "open"}')
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "run", "-C", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 300
    for line in process.stdout:
        lines.append(line)
        if line.startswith("slow: running") or time.monotonic() > deadline:
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=300)
    output = "".join(lines) + rest
    assert process.returncode == 130, output
    assert "quick | passed" in output
    assert "slow | cancelled" in output
    assert not stale.exists(), "the previous decision must not sit beside a partial run"
    (manifest,) = (tmp_path / "artifacts").glob("*/run-manifest.json")
    data = json.loads(manifest.read_text())
    assert data["status"] == "interrupted"
    assert {s["name"]: s["status"] for s in data["stages"]}["quick"] == "passed"
    found = subprocess.run(["pgrep", "-f", "time.sleep\\(120\\)"], capture_output=True, check=False)
    assert found.stdout == b""


# The stage starts a helper in a session of its own (as daemons and some test servers do):
# it must go too.
ESCAPING = (
    ONLY_OWN_STAGES
    + """
  gate: {enabled: false}
  slow:
    python: tool
    run: [[python, -c, "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c',
      'import time; time.sleep(121)'], start_new_session=True); time.sleep(121)"]]
"""
)


def read_until(process: subprocess.Popen[str], marker: str, seconds: float) -> list[str]:
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + seconds
    for line in process.stdout:
        lines.append(line)
        if line.startswith(marker) or time.monotonic() > deadline:
            break
    return lines


def helpers_left() -> bytes:
    found = subprocess.run(["pgrep", "-f", "time.sleep\\(121\\)"], capture_output=True, check=False)
    return found.stdout


def test_sigterm_stops_every_stage_process_writes_the_manifest_and_exits_143(
    tmp_path: Path,
) -> None:
    (tmp_path / "pipeline.yaml").write_text(ESCAPING)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "run", "-C", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = read_until(process, "slow: running", 120)
    # The helper is started once the stage runs; wait for it rather than for a fixed time.
    deadline = time.monotonic() + 120
    while len(helpers_left().split()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=300)
    output = "".join(lines) + rest
    assert process.returncode == 143, output
    assert "Traceback" not in output
    assert "slow | cancelled" in output
    (manifest,) = (tmp_path / "artifacts").glob("*/run-manifest.json")
    assert json.loads(manifest.read_text())["status"] == "interrupted"
    assert helpers_left() == b"", "a process the stage started outlived the run"
    # The lock was released, after the children were gone.
    assert (tmp_path / "reports" / ".run.lock").read_text() == ""


# Says when the command line starts loading (the interpreter's own start-up, and runpy's, are
# CPython's business): from then on, a Ctrl-C is ours to handle.
STARTED = """
import importlib.abc, runpy, sys

class Announce(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pipelines.cli":
            sys.meta_path.remove(self)
            print("loading", flush=True)
        return None

sys.meta_path.insert(0, Announce())
sys.argv[0] = "pipelines"
runpy.run_module("pipelines", run_name="__main__")
"""


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.1, 0.3, 0.6])
def test_ctrl_c_while_starting_prints_no_traceback(tmp_path: Path, delay: float) -> None:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    process = subprocess.Popen(
        [sys.executable, "-c", STARTED, "run", "-C", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "loading\n"
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=300)
    assert "Traceback" not in output, output
    assert process.returncode == 130, output
