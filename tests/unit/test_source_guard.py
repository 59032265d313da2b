"""A stage that changes the project's tracked files fails, naming them; one that only reads
them, writes untracked files or touches a file without changing it passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.plan import Plan, PlannedStage
from pipelines.runners.local import LocalRunner
from pipelines.runners.results import RunStatus
from pipelines.runners.source_guard import snapshot


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('app')\n")
    (tmp_path / "README.md").write_text("readme\n")
    (tmp_path / "notes.txt").write_text("uncommitted edit, before the run\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    (tmp_path / "notes.txt").write_text("changed since the commit\n")
    return tmp_path


def run(project: Path, code: str) -> tuple[RunStatus, str]:
    stage = PlannedStage("check", ((sys.executable, "-c", code),))
    (result,) = LocalRunner(project).run(Plan("p", "ci", (stage,))).stages
    return result.status, result.reason


def test_a_stage_that_rewrites_tracked_files_fails_naming_them(checkout: Path) -> None:
    status, reason = run(
        checkout,
        "import pathlib; pathlib.Path('src/app.py').write_text('print(1)\\n');"
        "pathlib.Path('README.md').unlink()",
    )
    assert status is RunStatus.FAILED
    assert reason == "changed tracked source files: README.md, src/app.py"


def test_a_stage_that_only_reads_touches_or_writes_untracked_files_passes(
    checkout: Path,
) -> None:
    code = (
        "import os, pathlib; pathlib.Path('src/app.py').read_text();"
        "os.utime('README.md');"
        "pathlib.Path('notes.txt').write_text('changed since the commit\\n');"
        "pathlib.Path('build.log').write_text('new')"
    )
    assert run(checkout, code) == (RunStatus.PASSED, "")


def test_an_uncommitted_file_changed_again_by_a_stage_counts(checkout: Path) -> None:
    status, reason = run(checkout, "open('notes.txt', 'a').write('more')")
    assert (status, reason) == (RunStatus.FAILED, "changed tracked source files: notes.txt")


def test_outside_a_git_checkout_there_is_nothing_to_compare(tmp_path: Path) -> None:
    assert snapshot(tmp_path) is None
    assert run(tmp_path, "open('x.py', 'w').write('1')") == (RunStatus.PASSED, "")
