"""The pre-commit hook, installed by pre-commit itself from a local copy of this repository
(``pre-commit try-repo``), passes a valid project and stops a commit of a broken pipeline.yaml
or flags.yaml with the error that names the key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.servers import need

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def released_copy(target: Path) -> Path:
    """This repository's tracked files as a repository of their own (what a rev would be)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git(target, "init", "--quiet")
    git(target, "add", "--all")
    git(target, "commit", "--quiet", "-m", "release")
    return target


def test_try_repo_runs_validate_on_pipeline_and_flags_files(tmp_path: Path) -> None:
    need("git")
    if not PRE_COMMIT.is_file():
        pytest.fail(f"{PRE_COMMIT}: pre-commit is a dev dependency of this repository")
    hooks = released_copy(tmp_path / "portable-pipelines")
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text("name: shop\n")
    (project / "flags.yaml").write_text(
        "flags:\n  NEW_CHECKOUT:\n    default: false\n    environments:\n      ci: true\n"
    )
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    environ = {
        **{k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}},
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
    }

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PRE_COMMIT), "try-repo", str(hooks), "pipelines-validate", "--all-files"],
            cwd=project,
            env=environ,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    passed = try_repo()
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "pipelines validate (pipeline.yaml, flags.yaml)" in passed.stdout
    assert "Passed" in passed.stdout

    (project / "flags.yaml").write_text(
        "flags:\n  NEW_CHECKOUT:\n    default: false\n    environments:\n      prod: true\n"
    )
    git(project, "add", "--all")
    refused = try_repo()
    assert refused.returncode == 1, refused.stdout[-3000:]
    assert "Failed" in refused.stdout
    assert "environment 'prod' is not in" in refused.stdout

    (project / "flags.yaml").unlink()
    (project / "pipeline.yaml").write_text("name: shop\nstagess: {}\n")
    git(project, "add", "--all")
    refused = try_repo()
    assert refused.returncode == 1, refused.stdout[-3000:]
    assert "stagess" in refused.stdout
