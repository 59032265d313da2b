"""A stage that changes the project's tracked files fails, naming them; one that only reads
them, writes untracked files or touches a file without changing it passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from pipelines.cli import main
from pipelines.cli.display import run_summary
from pipelines.plan import Plan, PlannedStage
from pipelines.runners.local import LocalRunner
from pipelines.runners.results import RunStatus
from pipelines.runners.source_guard import snapshot
from pipelines.source_tree import find_commit, tree_state
from tests.pipeline_files import ONLY_OWN_STAGES


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


REWRITE = "import pathlib; pathlib.Path('src/app.py').write_text('print(1)\\n')"


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


def test_outside_a_git_checkout_every_file_is_compared_and_the_table_says_so(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text("print('app')\n")
    (tmp_path / "reports" / "old").mkdir(parents=True)
    (tmp_path / "reports" / "old" / "log.txt").write_text("old")
    assert snapshot(tmp_path).without_git.startswith("fatal: not a git repository")
    touched = "import os; os.utime('app.py'); open('x.py', 'w').write('1')"
    assert run(tmp_path, touched) == (RunStatus.PASSED, "")
    status, reason = run(tmp_path, "open('app.py', 'a').write('# mine')")
    assert (status, reason) == (RunStatus.FAILED, "changed tracked source files: app.py")
    stage = PlannedStage("check", ((sys.executable, "-c", "pass"),))
    result = LocalRunner(tmp_path).run(Plan("p", "ci", (stage,)))
    out = Console(width=200, record=True)
    out.print(run_summary(result))
    shown = " ".join(out.export_text().split())  # the caption wraps to the table's width
    assert "source checked for changes: every file (git cannot list" in shown


@pytest.mark.parametrize(
    "git",
    [
        "",  # git is not installed
        "#!/bin/sh\necho 'fatal: detected dubious ownership in repository' >&2\nexit 128\n",
    ],
)
def test_where_git_cannot_run_the_check_still_holds(
    checkout: Path, tmp_path_factory: pytest.TempPathFactory, git: str
) -> None:
    bin_dir = tmp_path_factory.mktemp("bin")
    if git:
        (bin_dir / "git").write_text(git)
        (bin_dir / "git").chmod(0o755)
    stage = PlannedStage("check", ((sys.executable, "-c", REWRITE),))
    environ = {"PATH": str(bin_dir)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(bin_dir))
        result = LocalRunner(checkout, environ=environ).run(Plan("p", "ci", (stage,)))
    (done,) = result.stages
    assert done.status is RunStatus.FAILED
    assert done.reason.startswith("changed tracked source files: src/app.py")
    said = "git is not installed" if not git else "detected dubious ownership"
    assert said in result.source_check


def test_the_hosts_git_runs_no_command_the_checkouts_git_config_names(
    checkout: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # What a stage that may write the tree could leave in .git: git would run them on the
    # host, with the caller's whole environment.
    marker = tmp_path_factory.mktemp("out") / "ran"
    hook = checkout / "hook.sh"
    hook.write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    hook.chmod(0o755)
    git = ["git", "-C", str(checkout), "config"]
    subprocess.run([*git, "core.fsmonitor", str(hook)], check=True)
    hooks = checkout / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "post-index-change").write_text(hook.read_text())
    (hooks / "post-index-change").chmod(0o755)
    os.utime(checkout / "README.md")  # makes git look at the index again
    snapshot(checkout)
    tree_state(checkout, {})
    find_commit(checkout, {})
    assert not marker.exists()


def test_the_run_table_says_why_a_stage_that_changed_the_source_failed(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stage's own note ("1 command(s) passed") must not hide the runner's reason; the
    # file's name (anything git can track) is shown escaped.
    name = "evil\x1b[2J\n::error::forged [bold red]x[-].py"
    (checkout / name).write_text("1\n")
    subprocess.run(["git", "-C", str(checkout), "add", "."], check=True)
    code = f"open({name!r}, 'a').write('2')"
    (checkout / "pipeline.yaml").write_text(
        ONLY_OWN_STAGES + "  gate: {enabled: false}\n  edit:\n    python: tool\n"
        f"    run: [[python, -c, {json.dumps(code)}]]\n"
    )
    assert main(["run", "-C", str(checkout), "-q"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "changed tracked source files: evil\\x1b[2J\\n::error::forged [bold red]x[-].py" in out
    assert "1 command(s) passed" in out
    assert "\x1b[2J" not in out
