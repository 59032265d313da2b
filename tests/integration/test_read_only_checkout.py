"""A checkout that cannot be written: reports and artifacts go elsewhere, the source stays
untouched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.pipeline_cli import run_pipeline

pytestmark = pytest.mark.integration

PROJECT = {
    "pipeline.yaml": "project_env: {enabled: false}\nstages:\n  lint:\n    tools: [ruff, mypy]\n",
    "calc.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add() -> None:\n"
    "    assert add(1, 2) == 3\n",
}


def write(root: Path) -> Path:
    for name, text in PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """The project, mounted read-only (a real read-only file system, even for root)."""
    source, mount = write(tmp_path / "source"), tmp_path / "mount"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root")
    done = subprocess.run(["mount", "--bind", str(source), str(mount)], check=False)
    if done.returncode != 0:
        pytest.skip("bind mounts are not allowed here")
    subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_read_only_checkout_runs_with_reports_elsewhere(read_only: Path, tmp_path: Path) -> None:
    reports, artifacts = tmp_path / "out" / "reports", tmp_path / "out" / "artifacts"
    before = sorted(p.name for p in read_only.iterdir())
    code, run = run_pipeline(
        read_only, "--env", "ci", "--reports", str(reports), "--artifacts", str(artifacts)
    )
    statuses = {s["name"]: s["status"] for s in run["stages"]}
    assert code == 0, statuses
    assert sorted(p.name for p in read_only.iterdir()) == before
    decision = json.loads((reports / "gate" / "decision.json").read_text())
    assert decision["tests"]["passed"] == 1
    assert Path(run["artifacts"]).parent == artifacts
    assert (Path(run["artifacts"]) / "test-results.xml").is_file()


def test_a_read_only_checkout_without_a_place_for_reports_is_a_clear_error(
    read_only: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "run", "-C", str(read_only)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"{read_only}/reports: cannot be written" in done.stderr
    assert "--reports DIR" in done.stderr or "writable" in done.stderr
