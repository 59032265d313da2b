"""The Dagger module, verified without an engine: its registration and the lazy query chains
dagger-io builds (``_ctx.selections``), fed with the real plan the SDK prints."""

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

from ci.main import BASE_ENV, CACHES, IGNORED, Ci  # noqa: E402 - the module lives outside the package
from ci.plan_exec import PlanError, PlanSpec, StageSpec, execute_plan, parse_plan  # noqa: E402


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
    assert {"toolchain", "lint", "security", "test", "ci", "health"} <= set(functions)
    checks = {name for name, fn in functions.items() if fn.meta.check}
    assert checks == {"lint", "security", "test"}
    assert functions["health"].meta.cache == "never"
    assert functions["ci"].meta.cache is None


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
        assert [e["args"] for e in execs] == [list(argv) for argv in stage.run]
        assert execs[-1]["expect"] == "ANY"
        mounts = {args["path"] for name, args in steps if name == "withMountedCache"}
        assert mounts == set(CACHES)
        assert ("withWorkdir", {"path": "/src"}) in steps
        env = {args["name"]: args["value"] for name, args in steps if name == "withEnvVariable"}
        assert env == {**BASE_ENV, **stage.env}
        dirs = [args["path"] for name, args in steps if name == "withDirectory"]
        assert dirs[0] == "/src"
        assert dirs[1:] == [f"/src/reports/{n}" for n in sorted(needed)]


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
    # Importing `pipelines` would make every SDK edit invalidate the module's Dagger cache.
    for source in (ROOT / "ci" / "src" / "ci").glob("*.py"):
        text = source.read_text()
        assert "import pipelines" not in text and "from pipelines" not in text, source
