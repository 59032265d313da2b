"""The Dagger module's deploy side, verified without an engine: what it refuses (targets that
die with the exec), where state lives, what is always exported, and that no PID recorded
inside an exec is ever acted on by a later call."""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci" / "src"))

from ci.containers import COPY_ARTIFACTS, recording_exit  # noqa: E402
from ci.deploys import DRILL_STATE, KUBECONFIG  # noqa: E402
from ci.main import Ci  # noqa: E402
from ci.targets import OUTLIVES_EXEC, refuse_ephemeral, state_dir, targets_argv  # noqa: E402
from ci.verdicts import DeployRefusedError  # noqa: E402

DEPLOY_SIDE = ("deploy", "resume", "promote", "abort", "rollback", "status", "watch")


def chain(obj: Any) -> list[tuple[str, dict[str, Any]]]:
    """The query dagger-io would send, as (field, args) pairs."""
    return [(field.name, field.args) for field in obj._ctx.selections]


class HostExec:
    """A workspace whose execs run for real on the host, in a project (the toolchain's
    Python is this interpreter)."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.argv: list[str] = []

    def with_exec(self, argv: list[str]) -> HostExec:
        self.argv = [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
        return self

    async def stdout(self) -> str:
        done = subprocess.run(
            self.argv, cwd=self.project, capture_output=True, text=True, check=True
        )
        return done.stdout


def project_with_targets(tmp_path: Path, kind: str) -> Path:
    (tmp_path / "pipeline.yaml").write_text(
        "name: shop\nenvironments:\n  staging:\n    deploy:\n"
        f"      targets: [{{name: eu, kind: {kind}}}]\n"
    )
    return tmp_path


def test_the_targets_script_reads_the_project_config_with_the_sdk(tmp_path: Path) -> None:
    printed = HostExec(ROOT / "examples" / "service").with_exec(targets_argv("staging", None))
    assert json.loads(anyio.run(printed.stdout)) == {"targets": {"local": "local"}}
    wrong = HostExec(ROOT / "examples" / "service").with_exec(targets_argv("prod", None))
    assert "unknown environment 'prod'" in json.loads(anyio.run(wrong.stdout))["error"]


@pytest.mark.parametrize("kind", ["local", "docker"])
@pytest.mark.parametrize("function", DEPLOY_SIDE)
def test_deploy_side_functions_refuse_targets_that_die_with_the_exec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: str, kind: str
) -> None:
    project = project_with_targets(tmp_path, kind)
    built: list[list[str]] = []
    monkeypatch.setattr(Ci, "workspace", lambda self: HostExec(project))
    monkeypatch.setattr(Ci, "deploy_container", lambda self, argv, **_: built.append(argv))
    with pytest.raises(DeployRefusedError) as refused:
        anyio.run(getattr(Ci(source=dag.directory()), function), "staging")
    message = str(refused.value)
    assert f"target eu ({kind}) cannot be deployed through Dagger" in message
    assert "kubernetes" in message and "rollback-drill" in message
    # Refused before anything ran: no release started, no PID recorded, none signalled.
    assert built == []


def test_targets_that_outlive_the_exec_are_let_through() -> None:
    refuse_ephemeral("staging", dict.fromkeys(("eu", "us"), next(iter(OUTLIVES_EXEC))))
    with pytest.raises(DeployRefusedError, match="target us \\(local\\)"):
        refuse_ephemeral("staging", {"eu": "kubernetes", "us": "local"})


def test_deploy_state_and_its_audit_log_are_kept_per_project() -> None:
    first, other = state_dir("acme/shop"), state_dir("globex/shop")
    assert first != other and first.startswith("/state/acme-shop-")
    steps = chain(Ci(source=dag.directory()).deploy_container(["pipelines", "x"], state=first))
    env = {a["name"]: a["value"] for n, a in steps if n == "withEnvVariable"}
    assert env["PIPELINES_STATE_DIR"] == first
    # The audit log's hash chain continues from call to call: it lives with the state.
    assert env["PIPELINES_ARTIFACTS_DIR"] == f"{first}/artifacts"
    assert ("withMountedCache", "/state") in [(n, a.get("path")) for n, a in steps]
    (argv,) = [a["args"] for n, a in steps if n == "withExec"]
    assert argv == recording_exit(["pipelines", "x"], then=COPY_ARTIFACTS)  # copied for export


def test_the_wrapped_deploy_keeps_its_code_its_output_and_its_artifacts(tmp_path: Path) -> None:
    # The real sh, as in the toolchain: a command killed mid-deploy (137) still has its
    # output on stdout and its audit log copied out, and the exec itself succeeds.
    state, out, code = tmp_path / "state", tmp_path / "out", tmp_path / "code"
    out.mkdir()
    command = [
        "sh",
        "-c",
        'mkdir -p "$0" && echo entry > "$0/audit.jsonl"; echo step; kill -KILL $$',
    ]
    argv = recording_exit([*command, str(state / "artifacts")], then=COPY_ARTIFACTS)
    script = argv[2].replace("/tmp/pipelines-exit-code", str(code))
    script = script.replace("/src/artifacts/", f"{out}/")
    done = subprocess.run(
        [*argv[:2], script, *argv[3:]],
        env={"PATH": "/usr/bin:/bin", "PIPELINES_ARTIFACTS_DIR": str(state / "artifacts")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout == "step\n"
    assert code.read_text() == "137\n"
    assert (out / "audit.jsonl").read_text() == "entry\n"


def test_a_drill_keeps_its_state_inside_its_one_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    async def outcome(self: Ci, container: Any, command: str) -> Any:
        seen.append(container)
        return container

    monkeypatch.setattr(Ci, "outcome", outcome)
    anyio.run(Ci(source=dag.directory()).rollback_drill)
    steps = chain(seen[0])
    env = {a["name"]: a["value"] for n, a in steps if n == "withEnvVariable"}
    # Its nginx and instances die with the exec: the PIDs it records die with them.
    assert env["PIPELINES_STATE_DIR"] == DRILL_STATE
    assert not [a for n, a in steps if n == "withMountedCache" and a["path"] == "/state"]


class _FailedExec:
    async def sync(self) -> None:
        value = QueryErrorValue(
            "process killed",
            extensions={
                "_type": "EXEC_ERROR",
                "cmd": ["pipelines", "deploy"],
                "exitCode": 137,
                "stdout": "deploying 1.2.3",
                "stderr": "Killed",
            },
        )
        raise dagger.QueryError([value], SimpleNamespace(document=None))  # type: ignore[arg-type]


def test_a_failed_exec_still_exports_the_outcome() -> None:
    directory = anyio.run(Ci(source=dag.directory()).outcome, _FailedExec(), "deploy")
    (written,) = [a for n, a in chain(directory) if n == "withNewFile"]
    assert written["path"] == "outcome.json"
    record = json.loads(written["contents"])
    assert record["exit_code"] == 137 and record["command"] == "deploy"
    assert "Killed" in record["output"]


def test_every_deploy_side_function_is_registered_never_cached_and_documented() -> None:
    functions = Ci.__dagger_object_type__.functions  # type: ignore[attr-defined]
    for name in (*DEPLOY_SIDE, "rollback_drill"):
        assert functions[name].meta.cache == "never", name
        hints = typing.get_type_hints(getattr(Ci, name), include_extras=True)
        for argument, hint in hints.items():
            if argument != "return":
                assert any(isinstance(m, dagger.Doc) for m in hint.__metadata__), argument
    for name in ("stage", "annotations", "summary"):
        assert name in functions
    assert "docker_socket" not in typing.get_type_hints(Ci.deploy, include_extras=True)


def test_artifacts_that_cannot_be_copied_never_change_the_outcome(tmp_path: Path) -> None:
    code = tmp_path / "code"
    argv = recording_exit(["sh", "-c", "exit 1"], then="false")
    script = argv[2].replace("/tmp/pipelines-exit-code", str(code))
    done = subprocess.run(
        [*argv[:2], script, *argv[3:]], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "artifacts were not copied out" in done.stderr
    assert code.read_text() == "1\n"  # the deploy's own exit code, not the copy's


def test_a_kubernetes_target_gets_its_kubeconfig_as_a_secret_file() -> None:
    kubeconfig = dag.set_secret("kubeconfig", "apiVersion: v1\n")
    module = Ci(source=dag.directory(), kubeconfig=kubeconfig)
    steps = chain(module.deploy_container(["pipelines", "deploy"], state=state_dir("acme/shop")))
    assert ("withMountedSecret", {"path": KUBECONFIG, "source": kubeconfig}) in steps
    assert ("withEnvVariable", {"name": "KUBECONFIG", "value": KUBECONFIG}) in steps
    refuse_ephemeral("production", {"eu": "kubernetes"})  # its releases live in the cluster


def test_an_environment_of_kubernetes_targets_is_let_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = project_with_targets(tmp_path, "kubernetes")
    monkeypatch.setattr(Ci, "workspace", lambda self: HostExec(project))
    module = Ci(source=dag.directory(), project="acme/shop")
    assert anyio.run(module.deploy_state, "staging") == state_dir("acme/shop")
    hints = typing.get_type_hints(Ci, include_extras=True)
    for field in ("project", "kubeconfig", "secret_names", "secrets"):
        assert any(isinstance(m, dagger.Doc) for m in hints[field].__metadata__), field
