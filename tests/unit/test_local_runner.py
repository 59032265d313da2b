"""The local runner: DAG order, parallelism, skips, run_if always, fail-fast and logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio

from pipelines.layout import Layout
from pipelines.plan import Plan, PlannedStage
from pipelines.runners.base import Scheduler, run_plan, stage_executor, stage_prestarter
from pipelines.runners.commands import Command
from pipelines.runners.local import LocalRunner
from pipelines.runners.priority import OFF_PATH_NICENESS, off_critical_path
from pipelines.runners.results import RunStatus

PY = sys.executable


def stage(
    name: str, code: str, needs: tuple[str, ...] = (), run_if: str = "success"
) -> PlannedStage:
    return PlannedStage(name, ((PY, "-c", code),), needs=needs, run_if=run_if)


def run(
    tmp_path: Path, *stages: PlannedStage, fail_fast: bool = False
) -> tuple[dict[str, RunStatus], list[tuple[str, RunStatus]]]:
    events: list[tuple[str, RunStatus]] = []
    result = LocalRunner(tmp_path).run(
        Plan("p", "ci", stages), fail_fast=fail_fast, on_event=lambda n, s: events.append((n, s))
    )
    return {s.name: s.status for s in result.stages}, events


def test_needs_run_first_and_output_goes_to_the_log(tmp_path: Path) -> None:
    statuses, events = run(
        tmp_path,
        stage("build", "print('built')"),
        stage("check", "print('checked')", needs=("build",)),
    )
    assert statuses == {"build": RunStatus.PASSED, "check": RunStatus.PASSED}
    assert events.index(("build", RunStatus.PASSED)) < events.index(("check", RunStatus.RUNNING))
    assert (tmp_path / "reports" / "build" / "log.txt").read_text() == "built\n"


def test_independent_stages_run_in_parallel(tmp_path: Path) -> None:
    # Each stage waits until the other has started: only parallel execution can finish.
    code = (
        "import pathlib, time, sys\n"
        "me, other = sys.argv[1], sys.argv[2]\n"
        "pathlib.Path(me).touch()\n"
        "deadline = time.monotonic() + 20\n"
        "while not pathlib.Path(other).exists():\n"
        "    assert time.monotonic() < deadline, 'the other stage never started'\n"
        "    time.sleep(0.01)\n"
    )
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    statuses, _ = run(
        tmp_path,
        PlannedStage("left", ((PY, "-c", code, a, b),)),
        PlannedStage("right", ((PY, "-c", code, b, a),)),
    )
    assert statuses == {"left": RunStatus.PASSED, "right": RunStatus.PASSED}


def test_a_failed_need_skips_dependents_but_not_run_if_always(tmp_path: Path) -> None:
    statuses, _ = run(
        tmp_path,
        stage("test", "raise SystemExit(1)"),
        stage("deploy", "pass", needs=("test",)),
        stage("gate", "pass", needs=("test",), run_if="always"),
    )
    assert statuses == {
        "test": RunStatus.FAILED,
        "deploy": RunStatus.SKIPPED,
        "gate": RunStatus.PASSED,
    }


def test_fail_fast_cancels_running_stages(tmp_path: Path) -> None:
    statuses, _ = run(
        tmp_path,
        stage("quick-fail", "raise SystemExit(3)"),
        stage("slow", "import time; time.sleep(30)"),
        stage("after", "pass", needs=("slow",)),
        fail_fast=True,
    )
    assert statuses["quick-fail"] is RunStatus.FAILED
    assert statuses["slow"] is RunStatus.CANCELLED
    assert statuses["after"] is RunStatus.CANCELLED


def test_a_missing_command_fails_the_stage_with_a_reason(tmp_path: Path) -> None:
    result = LocalRunner(tmp_path).run(
        Plan("p", "ci", (PlannedStage("x", (("no-such-tool-here",),)),))
    )
    assert result.stages[0].status is RunStatus.FAILED
    assert result.stages[0].reason == "no-such-tool-here: not found on PATH"
    assert not result.ok


def test_stage_env_reaches_the_command(tmp_path: Path) -> None:
    code = "import os, sys; sys.exit(0 if os.environ['FLAG'] == 'on' else 1)"
    result = LocalRunner(tmp_path).run(
        Plan("p", "ci", (PlannedStage("x", ((PY, "-c", code),), env={"FLAG": "on"}),))
    )
    assert result.ok


def test_previous_outputs_are_removed_before_a_stage_runs(tmp_path: Path) -> None:
    stale = tmp_path / "reports" / "x" / "result.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    code = (
        "import pathlib, sys; sys.exit(1 if pathlib.Path('reports/x/result.json').exists() else 0)"
    )
    result = LocalRunner(tmp_path).run(
        Plan(
            "p", "ci", (PlannedStage("x", ((PY, "-c", code),), outputs=("reports/x/result.json",)),)
        )
    )
    assert result.ok


def test_a_stage_past_its_timeout_fails_and_leaves_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen(['sleep', '60'], process_group=0); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(60)"
    )
    slow = PlannedStage("slow", ((PY, "-c", code),), timeout=1)
    result = LocalRunner(tmp_path).run(Plan("p", "ci", (slow,)))
    (run_,) = result.stages
    assert run_.status is RunStatus.FAILED
    assert run_.reason == "timed out after 1 s"
    child = int(pid_file.read_text())
    # The child had a process group of its own and still went with the stage (SIGKILL was
    # sent; give the kernel a moment to finish it).
    for _ in range(100):
        try:
            state = Path(f"/proc/{child}/stat").read_text().split()[2]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.02)
    raise AssertionError(f"the stage's child outlived its timeout (state {state})")


def test_stages_stopped_by_an_interrupt_say_so_not_fail_fast(tmp_path: Path) -> None:
    # What SIGTERM does too: the CLI turns it into SIGINT for the running event loop.
    async def execute(planned: PlannedStage, _log: Path) -> tuple[int, str]:
        if planned.name == "interrupts":
            signal.raise_signal(signal.SIGINT)
        await anyio.sleep(60)
        return 0, ""

    plan = Plan(
        "p", "ci", (PlannedStage("interrupts", (("x",),)), PlannedStage("waits", (("x",),)))
    )
    scheduler = Scheduler(plan, Layout.of(tmp_path, {}), execute)
    runs = {run.name: run for run in scheduler.run()}
    assert scheduler.interrupted
    assert {run.status for run in runs.values()} == {RunStatus.CANCELLED}
    assert {run.reason for run in runs.values()} == {"interrupted"}


def test_stages_beside_the_longest_chain_run_at_a_lower_priority(tmp_path: Path) -> None:
    # Each stage records its own niceness and that of a process it starts (a tool).
    code = (
        "import os, subprocess, sys\n"
        "child = subprocess.run([sys.executable, '-c', 'import os; print(os.nice(0))'],\n"
        "                       capture_output=True, text=True).stdout.strip()\n"
        "print(os.nice(0), child)\n"
    )
    base = os.nice(0)
    plan = (
        stage("install", code),
        stage("lint", code),
        stage("security", code),
        stage("test", code, needs=("install",)),
        stage("gate", code, needs=("lint", "security", "test"), run_if="always"),
    )
    assert off_critical_path(Plan("p", "ci", plan)) == {"lint", "security"}
    statuses, _ = run(tmp_path, *plan)
    assert set(statuses.values()) == {RunStatus.PASSED}
    for name in ("install", "test", "gate"):
        assert (tmp_path / "reports" / name / "log.txt").read_text().split() == [str(base)] * 2
    for name in ("lint", "security"):
        lowered = str(min(base + OFF_PATH_NICENESS, 19))
        assert (tmp_path / "reports" / name / "log.txt").read_text().split() == [lowered] * 2


def test_chains_of_equal_length_are_all_critical() -> None:
    plan = Plan(
        "p",
        "ci",
        (
            stage("a", ""),
            stage("b", ""),
            stage("c", "", needs=("a",)),
            stage("d", "", needs=("b",)),
            stage("e", "", needs=("c", "d")),
        ),
    )
    assert off_critical_path(plan) == frozenset()
    assert off_critical_path(Plan("p", "ci", ())) == frozenset()


FAKE_STAGE = """#!{python}
# A stand-in for `pipelines stage NAME` that speaks the early start's protocol.
import os, pathlib, sys
name, marks = sys.argv[2], pathlib.Path(os.environ["MARKS"])
if os.environ.get("PIPELINES_STAGE_WAITS") == "1":
    (marks / f"{{name}}.waiting").write_text(str(os.getpid()))
    if sys.stdin.buffer.readline() != b"go\\n":
        (marks / f"{{name}}.never").touch()
        sys.exit(130)
(marks / f"{{name}}.ran").write_text(",".join(sorted(p.name for p in marks.iterdir())))
sys.exit(int(os.environ.get("FAIL_" + name, "0")))
"""


def _run_with_early_starts(tmp_path: Path, *stages: PlannedStage) -> list[RunStatus]:
    """The scheduler as the local runner drives it, with each `pipelines stage NAME` command
    run by FAKE_STAGE (which may wait)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "fake-pipelines"
    script.write_text(FAKE_STAGE.format(python=sys.executable))
    script.chmod(0o755)

    def build(stage: PlannedStage, argv: tuple[str, ...], _index: int) -> Command:
        env = {**os.environ, "MARKS": str(marks), **stage.env}
        if argv[:2] == ("pipelines", "stage"):
            return Command([str(script), *argv[1:]], env, cwd=tmp_path, may_wait=True)
        return Command(list(argv), env, cwd=tmp_path)

    result = run_plan(
        "test",
        Layout.of(tmp_path, {}),
        Plan("p", "ci", stages),
        stage_executor(build, tmp_path),
        fail_fast=False,
        on_event=None,
        max_parallel=4,
        prestart=stage_prestarter(build),
    )
    return [s.status for s in result.stages]


def _stage_of(name: str, needs: tuple[str, ...] = (), fail: bool = False) -> PlannedStage:
    env = {f"FAIL_{name}": "1" if fail else "0"}
    return PlannedStage(name, (("pipelines", "stage", name),), needs=needs, env=env)


def test_a_stage_that_needs_others_loads_early_and_runs_only_after_them(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    # The need ends only once its dependent is waiting: only an early start can finish.
    code = (
        "import pathlib, time\n"
        f"marks = pathlib.Path({str(marks)!r})\n"
        "deadline = time.monotonic() + 60\n"
        "while not (marks / 'test.waiting').exists():\n"
        "    assert time.monotonic() < deadline, 'the dependent never started early'\n"
        "    time.sleep(0.01)\n"
        "(marks / 'install.done').touch()\n"
    )
    statuses = _run_with_early_starts(
        tmp_path, stage("install", code), _stage_of("test", needs=("install",))
    )
    assert statuses == [RunStatus.PASSED, RunStatus.PASSED]
    # When it ran, its need had finished.
    assert "install.done" in (marks / "test.ran").read_text().split(",")


def test_an_early_started_stage_whose_need_failed_is_killed_unreleased(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    statuses = _run_with_early_starts(
        tmp_path, _stage_of("install", fail=True), _stage_of("test", needs=("install",))
    )
    assert statuses == [RunStatus.FAILED, RunStatus.SKIPPED]
    assert not (marks / "test.ran").exists()
    if (marks / "test.waiting").exists():  # it had started: it is gone, never let go
        pid = int((marks / "test.waiting").read_text())
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_stage_process_told_to_wait_does_nothing_when_never_let_go(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    done = subprocess.run(
        [PY, "-m", "pipelines", "stage", "install", "--env", "ci", "-C", str(tmp_path)],
        env={**os.environ, "PIPELINES_STAGE_WAITS": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 130, done.stderr
    assert not (tmp_path / "reports").exists()
