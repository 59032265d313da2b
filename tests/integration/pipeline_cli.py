"""Running the real ``pipelines`` CLI in a subprocess, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_pipeline(project: Path, *args: str, timeout: float = 1800) -> tuple[int, dict[str, Any]]:
    """``pipelines run -C project --json ARGS``: the exit code and the printed run."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "run", "-C", str(project), "--json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def decision(project: Path) -> dict[str, Any]:
    """The gate decision the run left in the project."""
    data: dict[str, Any] = json.loads((project / "reports/gate/decision.json").read_text())
    return data
