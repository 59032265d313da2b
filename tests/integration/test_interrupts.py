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
    deadline = time.monotonic() + 60
    for line in process.stdout:
        lines.append(line)
        if line.startswith("slow: running") or time.monotonic() > deadline:
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
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
