"""The Dagger module's runs, verified without an engine: the DAG executor with stages that
fail in every way, the argv each stage's exec gets (timeouts, exit codes), the commit, the
secrets and the upload's ignore list."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import anyio
import dagger
import pytest
from dagger import dag

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci" / "src"))

from ci.containers import IGNORED, RECORD_EXIT, recording_exit, timed  # noqa: E402
from ci.main import Ci  # noqa: E402
from ci.plan_exec import PlanError, PlanSpec, StageSpec, execute_plan, parse_plan, select  # noqa: E402


def chain(obj: Any) -> list[tuple[str, dict[str, Any]]]:
    """The query dagger-io would send, as (field, args) pairs."""
    return [(field.name, field.args) for field in obj._ctx.selections]


PLAN = PlanSpec(
    "shop",
    "ci",
    (
        StageSpec("install", (("x",),)),
        StageSpec("lint", (("x",),), needs=("install",)),
        StageSpec("test", (("x",),), needs=("install",)),
        StageSpec("gate", (("x",),), needs=("lint", "test"), run_if="always"),
        StageSpec("deploy", (("x",),), needs=("gate",)),
    ),
)


def run(plan: PlanSpec, behaviour: dict[str, Any], **options: Any) -> dict[str, Any]:
    async def run_stage(stage: StageSpec, needed: Any) -> tuple[int, str]:
        await anyio.sleep(0)
        outcome = behaviour.get(stage.name, 0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome, f"reports/{stage.name}"

    return anyio.run(lambda: execute_plan(plan, run_stage, **options))


def test_any_error_of_a_stage_is_its_failure_with_its_message_and_the_rest_goes_on() -> None:
    outcomes = run(PLAN, {"lint": RuntimeError("the engine lost the\nconnection")})
    assert {n: o.status for n, o in outcomes.items()} == {
        "install": "passed",
        "lint": "failed",
        "test": "passed",
        "gate": "passed",  # it runs always: it judges what the others left
        "deploy": "passed",
    }
    assert outcomes["lint"].message == "RuntimeError: the engine lost the connection"
    assert outcomes["lint"].exit_code is None and outcomes["lint"].reports is None


def test_a_stage_error_skips_its_dependants_and_names_why() -> None:
    group = ExceptionGroup("task group", [KeyError("gate"), ValueError("x")])
    outcomes = run(PLAN, {"install": group})
    assert outcomes["install"].message == "KeyError: 'gate'"
    assert outcomes["lint"].status == "skipped" and outcomes["lint"].message == "needs install"
    assert outcomes["gate"].status == "passed"


def test_fail_fast_skips_what_has_not_started() -> None:
    outcomes = run(PLAN, {"install": 1}, fail_fast=True)
    assert outcomes["install"].status == "failed"
    # The gate runs always, except when the run stops at the first failure.
    assert outcomes["gate"].status == "skipped"
    assert outcomes["gate"].message == "fail fast: install"


def test_only_the_selected_stages_run_and_their_needs_outside_count_as_met() -> None:
    chosen = select(PLAN, ["test", "gate"])
    assert [s.name for s in chosen.stages] == ["test", "gate"]
    assert chosen.stage("test").needs == () and chosen.stage("gate").needs == ("test",)
    assert select(PLAN, []) is PLAN
    with pytest.raises(PlanError, match="no stage 'tests'"):
        select(PLAN, ["tests"])


def plan_text(timeout: object) -> str:
    stage = {"name": "test", "run": [["pipelines", "stage", "test"]], "timeout": timeout}
    return json.dumps({"version": 1, "pipeline": "p", "env": "ci", "stages": [stage]})


def test_the_plan_timeout_reaches_the_exec_argv() -> None:
    stage = parse_plan(plan_text(90)).stage("test")
    assert stage.timeout == 90.0
    steps = chain(Ci(source=dag.directory()).stage_container(stage, {}))
    (argv,) = [args["args"] for name, args in steps if name == "withExec"]
    assert argv == [
        "timeout",
        "--signal=TERM",
        "--kill-after=30s",
        "90s",
        "pipelines",
        "stage",
        "test",
    ]
    assert parse_plan(plan_text(None)).stage("test").timeout is None
    for wrong in ("90", -1, True):
        with pytest.raises(PlanError, match="timeout"):
            parse_plan(plan_text(wrong))


def test_a_timed_out_command_ends_with_an_exit_code_the_exec_accepts() -> None:
    # The real coreutils `timeout`, as in the toolchain image: 124 is inside ReturnType.ANY.
    done = subprocess.run(timed(["sleep", "60"], 0.2), check=False)
    assert done.returncode == 124


def test_a_killed_command_keeps_its_exit_code_and_the_exec_succeeds(tmp_path: Path) -> None:
    record = tmp_path / "code"
    script = RECORD_EXIT.replace("/tmp/pipelines-exit-code", str(record))
    argv = recording_exit(["sh", "-c", "kill -KILL $$"])
    assert argv[:4] == ["sh", "-c", RECORD_EXIT, "sh"]
    done = subprocess.run([*argv[:2], script, *argv[3:]], check=False)
    assert done.returncode == 0  # the engine would fail an exec ending with 137
    assert record.read_text() == "137\n"


def test_the_commit_reaches_every_container_as_the_sdk_reads_it() -> None:
    with_commit = chain(Ci(source=dag.directory(), commit="0123abc").workspace())
    assert ("withEnvVariable", {"name": "PIPELINES_COMMIT", "value": "0123abc"}) in with_commit
    without = chain(Ci(source=dag.directory()).workspace())
    assert not [a for n, a in without if n == "withEnvVariable" and a["name"].endswith("COMMIT")]
    hints = typing.get_type_hints(Ci, include_extras=True)
    assert any(isinstance(m, dagger.Doc) for m in hints["commit"].__metadata__)


def test_stage_secrets_are_secret_variables_never_plain_ones() -> None:
    token = dag.set_secret("token", "not-a-real-token")
    module = Ci(source=dag.directory(), secret_names=["TOKEN"], secrets=[token])
    steps = chain(module.stage_container(StageSpec("test", (("x",),)), {}))
    assert ("withSecretVariable", {"name": "TOKEN", "secret": token}) in steps
    assert not [a for n, a in steps if n == "withEnvVariable" and a["name"] == "TOKEN"]
    for names, message in (([], "0 --secret-names for 1"), (["PIPELINES_X"], "PIPELINES_")):
        wrong = Ci(source=dag.directory(), secret_names=names, secrets=[token])
        with pytest.raises(ValueError, match=message):
            wrong.stage_container(StageSpec("test", (("x",),)), {})


def gitignore_patterns() -> list[str]:
    """Each .gitignore line as the upload's ignore list must spell it."""
    patterns = []
    for raw in (ROOT / ".gitignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.rstrip("/")
        if line.startswith("/"):
            patterns.append(line[1:])  # anchored at the top
        elif "/" in line:
            patterns.append(line)
        else:
            patterns.append("**/" + line)  # anywhere
    return patterns


def test_the_upload_ignores_what_git_ignores_but_keeps_the_reports_package() -> None:
    missing = [p for p in gitignore_patterns() if p not in IGNORED]
    assert not missing, f"add to IGNORED: {missing}"
    for must in ("examples/*/reports", "examples/*/artifacts", "**/*.egg-info", ".git"):
        assert must in IGNORED
    # `reports` and `artifacts` only at the top: pipelines/readers is a package.
    assert not [p for p in IGNORED if p.endswith("/reports") and not p.startswith("examples/")]
    assert (ROOT / "pipelines" / "readers" / "__init__.py").is_file()


def test_one_stage_container_can_be_opened_after_its_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def plan(self: Ci, env: str, config: str | None = None) -> PlanSpec:
        return PLAN

    monkeypatch.setattr(Ci, "plan", plan)
    container = anyio.run(Ci(source=dag.directory()).stage, "lint")
    (argv,) = [a for n, a in chain(container) if n == "withExec"]
    # A failing command leaves the container to open (`terminal`), not a failed query.
    assert argv == {"args": ["x"], "expect": "ANY"}
    with pytest.raises(PlanError, match="no stage 'lnt'"):
        anyio.run(Ci(source=dag.directory()).stage, "lnt")
