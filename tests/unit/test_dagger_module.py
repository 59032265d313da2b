"""The Dagger module, verified without an engine: its registration and the lazy query chains
dagger-io builds (``_ctx.selections``), fed with the real plan the SDK prints."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import dagger
import pytest
from dagger import dag
from dagger._exceptions import QueryErrorValue

from pipelines import codec
from pipelines.errors import ConfigError
from pipelines.layout import Layout
from pipelines.plan import PlannedStage, plan_of
from pipelines.runners.base import run_plan as sdk_run_plan

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci" / "src"))

from ci.containers import BASE_ENV, CACHES, IGNORED  # noqa: E402
from ci.main import Ci  # noqa: E402
from ci.plan_exec import PlanError, PlanSpec, StageSpec, execute_plan, parse_plan  # noqa: E402

from ci import containers, verdicts  # noqa: E402 - the module lives outside the package


def chain(obj: Any) -> list[tuple[str, dict[str, Any]]]:
    """The query dagger-io would send, as (field, args) pairs."""
    return [(field.name, field.args) for field in obj._ctx.selections]


def printed_plan(project: Path, env: str = "ci") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "plan", "-C", str(project), "--env", env, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_functions_checks_and_cache_policies_are_registered() -> None:
    functions = Ci.__dagger_object_type__.functions  # type: ignore[attr-defined]
    assert {"toolchain", "lint", "security", "test", "ci", "verdict", "health"} <= set(functions)
    checks = {name for name, fn in functions.items() if fn.meta.check}
    assert checks == {"lint", "security", "test"}
    assert functions["health"].meta.cache == "never"
    # The body computes the day and the nonces: without a policy the engine would serve the
    # whole call from its function cache for up to a week.
    for name in ("ci", "lint", "security", "test"):
        assert functions[name].meta.cache == "session", name


def test_every_argument_is_documented_and_the_source_has_its_default_path() -> None:
    hints = typing.get_type_hints(Ci, include_extras=True)
    source = hints["source"].__metadata__
    assert any(isinstance(m, dagger.DefaultPath) and m.from_context == "/" for m in source)
    ignore = next(m for m in source if isinstance(m, dagger.Ignore))
    for pattern in (".git", ".venv", "reports", "artifacts", "**/__pycache__"):
        assert pattern in ignore.patterns
    assert ignore.patterns == IGNORED
    for name in ("source", "base_image", "ca_bundle"):
        assert any(isinstance(m, dagger.Doc) for m in hints[name].__metadata__), name
    for function in ("lint", "security", "test", "ci", "health"):
        env = typing.get_type_hints(getattr(Ci, function), include_extras=True)["env"]
        assert any(isinstance(m, dagger.Doc) for m in env.__metadata__), function


def test_the_toolchain_is_built_from_the_module_own_files_not_the_caller(tmp_path: Path) -> None:
    # The caller's project has no pipelines/ at all: it must not matter.
    caller = Ci(source=dag.directory().with_new_file("app.py", "print('hi')\n"))
    steps = chain(caller.toolchain())
    assert steps[:3] == [("currentModule", {}), ("source", {}), ("directory", {"path": ".."})]
    build = steps[-1]
    assert build[0] == "dockerBuild"
    assert build[1]["dockerfile"] == "containers/toolchain.Dockerfile"
    assert build[1]["buildArgs"] == [{"name": "BASE_IMAGE", "value": "python:3.12-slim-bookworm"}]
    assert all(name != "host" for name, _ in steps)


def test_an_extra_ca_bundle_goes_into_the_build_context() -> None:
    ca = dag.directory().with_new_file("ca.pem", "-----BEGIN CERTIFICATE-----\n").file("ca.pem")
    steps = chain(Ci(source=dag.directory(), ca_bundle=ca, base_image="debian:x").toolchain())
    assert ("withFile", {"path": "containers/extra-ca/extra-ca.pem", "source": ca}) in steps
    assert steps[-1][1]["buildArgs"] == [{"name": "BASE_IMAGE", "value": "debian:x"}]


def test_stage_commands_are_exactly_the_plan_argv_lists() -> None:
    # The contract: what `pipelines plan --json` prints is what the module executes.
    plan = parse_plan(printed_plan(ROOT / "examples" / "service"))
    assert [s.name for s in plan.stages] == ["install", "lint", "security", "test", "gate"]
    module = Ci(source=dag.directory())
    reports = {"test": dag.directory(), "lint": dag.directory()}
    for stage in plan.stages:
        needed = {n: reports[n] for n in stage.needs if n in reports}
        steps = chain(module.stage_container(stage, needed))
        execs = [args for name, args in steps if name == "withExec"]
        assert [e["args"] for e in execs] == [
            containers.timed(argv, stage.timeout) for argv in stage.run
        ]
        assert execs[-1]["expect"] == "ANY"
        mounts = {args["path"] for name, args in steps if name == "withMountedCache"}
        assert mounts == set(CACHES)
        assert ("withWorkdir", {"path": "/src"}) in steps
        env = {args["name"]: args["value"] for name, args in steps if name == "withEnvVariable"}
        freshness = {"PIPELINES_DAY", "PIPELINES_NONCE"}
        assert {k: v for k, v in env.items() if k not in freshness} == {**BASE_ENV, **stage.env}
        dirs = [args["path"] for name, args in steps if name == "withDirectory"]
        assert dirs[0] == "/src"
        # Its own reports directory exists before it runs: the export never fails on it.
        assert dirs[1:] == [*(f"/src/reports/{n}" for n in sorted(needed)), stage_dir(stage)]


def stage_dir(stage: StageSpec) -> str:
    return f"/src/reports/{stage.name}"


def test_a_single_stage_check_fails_on_the_stage_failure() -> None:
    stage = StageSpec("lint", (("pipelines", "stage", "lint", "--env", "ci"),))
    steps = chain(Ci(source=dag.directory()).stage_container(stage, {}, last_may_fail=False))
    assert steps[-1] == ("withExec", {"args": ["pipelines", "stage", "lint", "--env", "ci"]})


def run_plan(plan: PlanSpec, exit_codes: dict[str, int]) -> tuple[dict[str, str], list[str]]:
    order: list[str] = []

    async def run_stage(stage: StageSpec, needed: Any) -> tuple[int, str]:
        order.append(f"{stage.name}<-{','.join(sorted(needed))}")
        await anyio.sleep(0)
        return exit_codes.get(stage.name, 0), f"reports/{stage.name}"

    outcomes = anyio.run(execute_plan, plan, run_stage)
    return {name: o.status for name, o in outcomes.items()}, order


def test_the_executor_follows_the_dag_and_the_gate_always_runs() -> None:
    plan = parse_plan(printed_plan(ROOT / "examples" / "service"))
    statuses, order = run_plan(plan, {"test": 1})
    assert statuses == {
        "install": "passed",
        "lint": "passed",
        "security": "passed",
        "test": "failed",
        "gate": "passed",
    }
    assert order[-1] == "gate<-lint,security,test"
    deploy = StageSpec("deploy", (("true",),), needs=("gate",))
    with_deploy = PlanSpec(plan.pipeline, plan.env, (*plan.stages, deploy))
    statuses, _ = run_plan(with_deploy, {"gate": 1})
    assert statuses["deploy"] == "skipped"


def test_a_plan_that_is_not_a_plan_is_refused() -> None:
    with pytest.raises(PlanError, match="not a plan"):
        parse_plan("{}")
    with pytest.raises(PlanError, match="plan version 2"):
        parse_plan(json.dumps({"version": 2, "pipeline": "p", "env": "ci", "stages": []}))
    with pytest.raises(PlanError, match="no stage 'deploy'"):
        parse_plan(printed_plan(ROOT / "examples" / "service")).stage("deploy")


def test_the_module_never_imports_the_sdk() -> None:
    # Importing `pipelines` would put the SDK's dependencies into the module's runtime. (A
    # script the toolchain's own Python runs may: it is a string here.)
    for source in (ROOT / "ci" / "src" / "ci").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n.split(".")[0] == "pipelines"], source


def test_live_stages_carry_a_nonce_and_vulnerability_lookups_the_day() -> None:
    plan = parse_plan(printed_plan(ROOT / "examples" / "service"))
    module = Ci(source=dag.directory())
    env = [
        args["name"]
        for name, args in chain(module.stage_container(plan.stage("security"), {}))
        if name == "withEnvVariable"
    ]
    assert "PIPELINES_DAY" in env
    health = StageSpec("health", (("pipelines", "stage", "health"),), freshness="never")
    first = [a for n, a in chain(module.stage_container(health, {})) if n == "withEnvVariable"]
    again = [a for n, a in chain(module.stage_container(health, {})) if n == "withEnvVariable"]
    nonce = [a["value"] for a in first if a["name"] == "PIPELINES_NONCE"]
    assert nonce and nonce != [a["value"] for a in again if a["name"] == "PIPELINES_NONCE"]
    lint = [
        a["name"]
        for n, a in chain(module.stage_container(plan.stage("lint"), {}))
        if n == "withEnvVariable"
    ]
    assert "PIPELINES_NONCE" not in lint and "PIPELINES_DAY" not in lint


def test_the_health_function_is_re_run_for_real() -> None:
    # health() is async and awaits the engine; its container is what we check.
    module = Ci(source=dag.directory())
    steps = chain(module.workspace().with_(containers.fresh("never")))
    assert any(
        name == "withEnvVariable" and args["name"] == "PIPELINES_NONCE" for name, args in steps
    )


class _Crashed:
    def __init__(self, code: int) -> None:
        self.code = code

    async def sync(self) -> None:
        value = QueryErrorValue(
            "process killed",
            extensions={
                "_type": "EXEC_ERROR",
                "cmd": ["pipelines", "stage", "test"],
                "exitCode": self.code,
                "stdout": "collected 3 items",
                "stderr": "Killed",
            },
        )
        # What dagger-io raises for an exec the engine reports as failed (an ExecError).
        raise dagger.QueryError([value], SimpleNamespace(document=None))  # type: ignore[arg-type]


def test_a_killed_command_fails_its_stage_and_keeps_its_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = Ci(source=dag.directory())
    monkeypatch.setattr(Ci, "stage_container", lambda self, stage, needed: _Crashed(137))
    stage = StageSpec("test", (("pipelines", "stage", "test"),))
    code, reports = anyio.run(module.run_stage, stage, {})
    assert code == 137
    steps = chain(reports)
    (written,) = [args for name, args in steps if name == "withNewFile"]
    assert written["path"] == "log.txt"
    assert written["contents"].startswith("exit code 137: process killed")
    assert "Killed" in written["contents"]


# One table of DAG cases, run by the SDK's scheduler and by the module's executor alike.
DAG_CASES = [
    (  # fan-out then fan-in
        [
            ("a", (), "success"),
            ("b", ("a",), "success"),
            ("c", ("a",), "success"),
            ("d", ("b", "c"), "success"),
        ],
        {},
        {"a": "passed", "b": "passed", "c": "passed", "d": "passed"},
    ),
    (  # a failure skips what needs it, but not a stage that runs always
        [
            ("a", (), "success"),
            ("b", ("a",), "success"),
            ("gate", ("a", "b"), "always"),
            ("deploy", ("gate",), "success"),
        ],
        {"a": 1},
        {"a": "failed", "b": "skipped", "gate": "passed", "deploy": "passed"},
    ),
    (  # a skipped stage blocks what needs it
        [("a", (), "success"), ("b", ("a",), "success"), ("c", ("b",), "success")],
        {"a": 2},
        {"a": "failed", "b": "skipped", "c": "skipped"},
    ),
]


def _sdk(
    stages: list[tuple[str, tuple[str, ...], str]], codes: dict[str, int], tmp: Path
) -> dict[str, str]:
    # From the plan's JSON, as the module reads it: the SDK checks the DAG there too.
    plan = plan_of(
        {
            "pipeline": "p",
            "env": "ci",
            "stages": [
                codec.to_builtins(PlannedStage(n, (("x",),), needs=d, run_if=r))
                for n, d, r in stages
            ],
        }
    )

    async def execute(stage: PlannedStage, log: Path) -> tuple[int, str]:
        return codes.get(stage.name, 0), ""

    result = sdk_run_plan(
        "test", Layout.of(tmp, {}), plan, execute, fail_fast=False, on_event=None, max_parallel=4
    )
    return {s.name: s.status.value for s in result.stages}


def _module(
    stages: list[tuple[str, tuple[str, ...], str]], codes: dict[str, int]
) -> dict[str, str]:
    plan = parse_plan(
        json.dumps(
            {
                "version": 1,
                "pipeline": "p",
                "env": "ci",
                "stages": [
                    {"name": n, "run": [["x"]], "needs": list(d), "run_if": r} for n, d, r in stages
                ],
            }
        )
    )
    statuses, _ = run_plan(plan, codes)
    return statuses


@pytest.mark.parametrize(("stages", "codes", "expected"), DAG_CASES)
def test_both_executors_agree_on_the_dag(
    tmp_path: Path,
    stages: list[tuple[str, tuple[str, ...], str]],
    codes: dict[str, int],
    expected: dict[str, str],
) -> None:
    assert _sdk(stages, codes, tmp_path) == expected
    assert _module(stages, codes) == expected


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([("a", ("b",), "success"), ("b", ("a",), "success")], "cycle"),
        ([("a", ("nope",), "success")], "nope"),
        ([("a", (), "success"), ("a", (), "success")], "twice"),
    ],
)
def test_both_executors_refuse_a_plan_they_cannot_run(
    tmp_path: Path, stages: list[tuple[str, tuple[str, ...], str]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _sdk(stages, {}, tmp_path)
    with pytest.raises(PlanError, match=message):
        _module(stages, {})


def test_the_verdict_fails_on_a_closed_gate_or_a_failed_stage() -> None:
    passed = {"env": "ci", "stages": {"lint": {"status": "passed"}, "gate": {"status": "passed"}}}
    assert verdicts.judge(passed, None) == "2 stage(s) passed (ci)"
    lint_failed = {**passed, "stages": {**passed["stages"], "lint": {"status": "failed"}}}
    with pytest.raises(verdicts.StageFailedError, match="lint"):
        verdicts.judge(lint_failed, None)
    closed = {"status": "closed", "reasons": ["pass_rate: measured 80.00, required >= 95.00"]}
    with pytest.raises(verdicts.GateClosedError, match="gate closed \\(ci\\): pass_rate"):
        verdicts.judge(passed, closed)


def test_deploys_rollbacks_and_drills_are_never_cached_and_always_really_run() -> None:
    functions = Ci.__dagger_object_type__.functions  # type: ignore[attr-defined]
    for name in ("deploy", "rollback", "rollback_drill"):
        assert functions[name].meta.cache == "never", name
    module = Ci(source=dag.directory())
    key = dag.set_secret("audit-key", "not-a-real-key")
    argv = ["pipelines", "drill", "rollback", "--env", "staging"]

    def container() -> list[tuple[str, dict[str, Any]]]:
        return chain(
            module.deploy_container(
                argv,
                state="/state/shop-0123",
                reports=dag.directory(),
                audit_key=key,
                approved_by="release-manager",
            )
        )

    first, again = container(), container()
    exec_at = min(i for i, (name, _) in enumerate(first) if name == "withExec")
    nonces = [
        (i, args["value"])
        for i, (name, args) in enumerate(first)
        if name == "withEnvVariable" and args["name"] == "PIPELINES_NONCE"
    ]
    # The nonce is an input of the exec (set before it), and new on every call.
    assert nonces and nonces[-1][0] < exec_at
    other = [
        a["value"] for n, a in again if n == "withEnvVariable" and a["name"] == "PIPELINES_NONCE"
    ]
    assert nonces[-1][1] not in other
    assert first[exec_at][1]["args"] == containers.recording_exit(
        argv, then=containers.COPY_ARTIFACTS
    )
    names = [name for name, _ in first]
    assert "withSecretVariable" in names  # the key never becomes a plain variable
    assert not any(
        name == "withEnvVariable" and args["name"] == "PIPELINES_AUDIT_KEY" for name, args in first
    )
    assert (
        "withEnvVariable",
        {"name": "PIPELINES_STATE_DIR", "value": "/state/shop-0123"},
    ) in first
    assert any(name == "withMountedCache" and args["path"] == "/state" for name, args in first)


def test_the_verdict_fails_on_a_failed_deploy_or_drill() -> None:
    assert verdicts.judge({"command": "deploy", "exit_code": 0, "output": ""}, None) == (
        "deploy succeeded"
    )
    with pytest.raises(verdicts.DeployFailedError, match="rollback drill failed \\(exit 1\\)"):
        verdicts.judge({"command": "rollback drill", "exit_code": 1, "output": "lost"}, None)


def test_every_argument_of_the_deploy_functions_is_documented() -> None:
    for function in ("deploy", "rollback", "rollback_drill"):
        hints = typing.get_type_hints(getattr(Ci, function), include_extras=True)
        for name, hint in hints.items():
            if name == "return":
                continue
            assert any(isinstance(m, dagger.Doc) for m in hint.__metadata__), (function, name)
