"""The package as a user gets it: built into an sdist and a wheel, installed into a fresh
virtualenv outside any checkout, it runs a small project's pipeline in Docker containers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipelines import toolchain
from tests.integration.real_projects import SRC_LAYOUT, UV, write_project
from tests.integration.servers import need

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
LOCAL_BASE = "portable-pipelines/base:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
SHIPPED = [
    *toolchain.CONTEXT_FILES,
    toolchain.BASE_IMAGE_BUILDER,
    "containers/extra-ca/README.md",
]


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "version"], capture_output=True, check=False).returncode == 0


def _checkout_copy(target: Path) -> Path:
    """The tracked files only: what a release is built from, and the checkout stays as it was."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_a_wheel_installed_outside_the_checkout_runs_the_docker_runner(tmp_path: Path) -> None:
    if not docker_answers():
        if os.environ.get("PIPELINES_REQUIRE_DOCKER") == "1" or os.environ.get("CI") == "true":
            pytest.fail("no Docker engine answers")
        pytest.skip("no Docker engine (scripts/test starts one where it can)")
    need("git")
    source = _checkout_copy(tmp_path / "source")
    dist = tmp_path / "dist"
    # uv builds the sdist, then the wheel from the sdist: both are what a user would get.
    built = subprocess.run(
        [UV, "build", "--sdist", "--wheel", "--out-dir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("*.whl"))
    sdist = next(dist.glob("*.tar.gz"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {f"pipelines/_sdk/{name}" for name in SHIPPED} <= names
    assert "pipelines/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert {*SHIPPED, "LICENSE", "setup.py", "containers/monitoring/alertmanager.yml"} <= members

    venv = tmp_path / "user-venv"
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    installed = subprocess.run(
        [
            UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin/python"),
            "-c",
            str(ROOT / "constraints.txt"),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    project = write_project(tmp_path / "work" / "calc", SRC_LAYOUT)
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PIPELINES_SDK_DIR", "VIRTUAL_ENV"}
    }
    environ["PATH"] = f"{venv / 'bin'}:{environ.get('PATH', '')}"
    inspect = ["docker", "image", "inspect", LOCAL_BASE]
    if (
        "PIPELINES_BASE_IMAGE" not in environ
        and subprocess.run(inspect, capture_output=True, check=False).returncode == 0
    ):
        environ["PIPELINES_BASE_IMAGE"] = LOCAL_BASE
    if "PIPELINES_CA_BUNDLE" not in environ and HOST_CA.is_file():
        environ["PIPELINES_CA_BUNDLE"] = str(HOST_CA)
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import pipelines.toolchain as t; print(t.sdk_root())"],
        cwd=tmp_path / "work",
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv)
    done = subprocess.run(
        [
            str(venv / "bin/pipelines"),
            "run",
            "-C",
            str(project),
            "--runner",
            "docker",
            "--env",
            "ci",
            "--json",
        ],
        cwd=tmp_path / "work",
        env=environ,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.stdout, done.stderr[-3000:]
    result = json.loads(done.stdout)
    statuses = {s["name"]: s["status"] for s in result["stages"]}
    assert done.returncode == 0, (statuses, done.stderr[-3000:])
    assert result["runner"] == "docker"
    gate = json.loads((project / "reports/gate/decision.json").read_text())
    assert gate["status"] == "open"
    assert gate["tests"]["passed"] == 4
