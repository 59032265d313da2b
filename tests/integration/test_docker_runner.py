"""The Docker runner on a real Docker engine: same reports and decision as the local runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "version"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture(scope="module", autouse=True)
def needs_docker() -> None:
    if not docker_ready():
        if os.environ.get("PIPELINES_REQUIRE_DOCKER") == "1":
            pytest.fail("PIPELINES_REQUIRE_DOCKER=1 but no Docker engine answers")
        pytest.skip("no Docker engine (scripts/test starts one where it can)")


def run(project: Path, runner: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "run",
            "-C",
            str(project),
            "--runner",
            runner,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def decision(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "reports/gate/decision.json").read_text())
    return data


def test_docker_and_local_runners_agree(example_copy: Path, tmp_path: Path) -> None:
    local_copy = tmp_path / "local"
    shutil.copytree(example_copy, local_copy)
    code, result = run(example_copy, "docker")
    assert code == 0, (result, (example_copy / "reports/test/log.txt").read_text())
    assert result["runner"] == "docker"
    local_code, _ = run(local_copy, "local")
    assert local_code == 0
    in_docker, on_host = decision(example_copy), decision(local_copy)
    assert in_docker["status"] == on_host["status"] == "open"
    for key in ("passed", "failed", "errors", "skipped", "flaky", "executed", "records"):
        assert in_docker["tests"][key] == on_host["tests"][key], key
    assert in_docker["coverage"]["lines_valid"] == on_host["coverage"]["lines_valid"]
    assert in_docker["coverage"]["lines_covered"] == on_host["coverage"]["lines_covered"]
    assert [r["name"] for r in in_docker["rules"]] == [r["name"] for r in on_host["rules"]]
    for name in ("lint", "security", "test"):
        assert (example_copy / "reports" / name / "result.json").is_file()
    assert (Path(result["artifacts"]) / "run-manifest.json").is_file()
    # The source was mounted read-only: nothing but reports/ and artifacts/ appeared.
    created = {p.name for p in example_copy.iterdir()} - {p.name for p in local_copy.iterdir()}
    assert created == set()
