"""Targets are a runtime plus a router, built from the registry by the names pipeline.yaml
gives them: the composition, the registry's errors, and the instance records."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipelines.child_env import MASK
from pipelines.cli import main
from pipelines.config.deploy import ServiceSettings
from pipelines.config.pipeline import load_config
from pipelines.deploy import registry
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.events import DeployFinished, DeployStarted, DeployStatus
from pipelines.deploy.instances import ContainerRecord, ProcessRecord, Records
from pipelines.deploy.local import LocalRuntime, _tail
from pipelines.deploy.nginx import NginxRouter
from pipelines.deploy.processes import MARKER, alive, marked_processes, start_time
from pipelines.deploy.registry import TargetContext
from pipelines.deploy.target import Backend, Release, RoutedRuntime, Running, TargetError
from pipelines.errors import UsageError
from pipelines.layout import Layout


@dataclass
class Processes:
    instances: dict[str, Running] = field(default_factory=dict)
    stopped_all: bool = False

    def start(self, instance: str, release: Release) -> Running:
        self.instances[instance] = Running(instance, release.id, f"http://127.0.0.1:9/{instance}")
        return self.instances[instance]

    def stop(self, instance: str) -> None:
        self.instances.pop(instance, None)

    def running(self) -> dict[str, Running]:
        return dict(self.instances)

    def shutdown(self) -> None:
        self.stopped_all = True
        self.instances.clear()


@dataclass
class Weights:
    backends: list[Backend] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def route(self, backends: Sequence[Backend]) -> float:
        self.backends = list(backends)
        return 0.01

    def routed(self) -> dict[str, int]:
        return {b.instance.name: b.weight for b in self.backends}

    def entrypoint(self) -> str:
        return "http://router"

    def shutdown(self) -> None:
        self.order.append("router")


def test_a_target_routes_to_what_its_runtime_runs_and_refuses_what_it_does_not() -> None:
    runtime, router = Processes(), Weights()
    target = RoutedRuntime("eu", runtime, router)
    target.start("r1-0", Release("r1", "1.0.0", "abc", Path()))
    assert target.route({"r1-0": 100}) == 0.01
    assert router.backends == [Backend(runtime.instances["r1-0"], 100)]
    assert target.routed() == {"r1-0": 100}
    with pytest.raises(TargetError, match="cannot route to r2-0: not running"):
        target.route({"r1-0": 50, "r2-0": 50})
    assert target.routed() == {"r1-0": 100}  # the refused routing was never handed on
    target.shutdown()
    assert router.order == ["router"] and runtime.stopped_all


def _project(tmp_path: Path, target: str) -> Path:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text(
        "version: 1\nname: shop\nservice: {command: [python, -m, shop], image: 'shop:{version}'}\n"
        "environments:\n  staging:\n    deploy:\n      targets:\n        - " + target + "\n"
    )
    return project


def _targets(project: Path, tmp_path: Path) -> list[object]:
    environ = {"PIPELINES_STATE_DIR": str(tmp_path / "state")}
    config = load_config(project)
    denv = DeployEnv.open(project, config, "staging", Layout.of(project), environ)
    return list(denv.targets())


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{name: eu, kind: dokker}", r"targets\[0\]\.kind: unknown runtime 'dokker'"),
        ("{name: eu, router: nginks}", r"targets\[0\]\.router: unknown router 'nginks'"),
    ],
)
def test_an_unknown_kind_or_router_is_a_usage_error_naming_the_key(
    tmp_path: Path, target: str, message: str
) -> None:
    project = _project(tmp_path, target)
    with pytest.raises(UsageError, match=message) as caught:
        _targets(project, tmp_path)
    assert "did you mean" in (caught.value.hint or "")


def test_an_unknown_kind_stops_a_deploy_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, "{name: eu, kind: dokker}")
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path / "state"))
    assert main(["status", "-C", str(project), "--env", "staging"]) == 2
    assert "environments.staging.deploy.targets[0].kind" in capsys.readouterr().err


def test_local_and_docker_targets_share_the_nginx_router(tmp_path: Path) -> None:
    project = _project(tmp_path, "{name: eu, kind: docker}")
    (target,) = _targets(project, tmp_path)
    assert isinstance(target, RoutedRuntime)
    assert isinstance(target.router, NginxRouter)
    assert type(target.runtime).__name__ == "DockerRuntime"


def test_a_new_router_is_a_factory_and_one_registry_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What docs/development.md says adding a router takes: nothing but the entry.
    made: list[TargetContext] = []

    def weights_router(context: TargetContext) -> Weights:
        made.append(context)
        return Weights()

    monkeypatch.setitem(registry.ROUTERS, "weights", weights_router)
    project = _project(tmp_path, "{name: eu, router: weights, listen: '127.0.0.1:18099'}")
    (target,) = _targets(project, tmp_path)
    assert isinstance(target, RoutedRuntime) and isinstance(target.router, Weights)
    assert [(c.name, c.listen) for c in made] == [("eu", "127.0.0.1:18099")]
    assert type(target.runtime) is LocalRuntime


def test_instance_records_are_declared_and_a_damaged_one_names_no_process(
    tmp_path: Path,
) -> None:
    processes = Records(tmp_path / "instances", ProcessRecord)
    processes.write("r1-0", ProcessRecord(release="r1", port=8000, pid=42, argv=["srv"]))
    assert processes.read("r1-0") == ProcessRecord(release="r1", port=8000, pid=42, argv=["srv"])
    processes.path("r1-1").write_text('{"release": "r1", "port": "8000", "pid": 43}')
    processes.path("r1-2").write_text('{"release": "r1", "port": 80')
    assert [name for name, _ in processes.all()] == ["r1-0"]
    containers = Records(tmp_path / "instances", ContainerRecord)
    assert containers.read("r1-0") is None  # a process record is not a container's


def test_docker_instances_are_restarted_by_the_engine_when_they_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.deploy import docker  # noqa: PLC0415 - its engine call is replaced

    calls: list[list[str]] = []

    def engine(
        argv: list[str], timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        out = "c0ffee\n" if argv[0] == "run" else "true\n"
        return subprocess.CompletedProcess(argv, 0, out, "")

    monkeypatch.setattr(docker, "_docker", engine)
    monkeypatch.setattr(docker, "wait_healthy", lambda *a, **k: None)
    service = ServiceSettings(image="shop:{version}")
    runtime = docker.DockerRuntime(
        home=tmp_path, service=service, env={}, image="shop:{version}", prefix="pp-shop"
    )
    runtime.start("r1-0", Release("r1", "1.0.0", "abc", tmp_path))
    run = next(argv for argv in calls if argv[0] == "run")
    assert run[run.index("--restart") + 1] == "on-failure:3"
    assert run[-1] == "shop:1.0.0"


def _runtime(home: Path) -> LocalRuntime:
    return LocalRuntime(home=home, service=ServiceSettings(command=("python",)), env={})


def test_a_recorded_pid_that_is_not_the_instance_is_never_signalled(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    stranger = subprocess.Popen(["sleep", "60"])  # alive, but no instance of ours
    try:
        runtime.records.directory.mkdir(parents=True)
        record = ProcessRecord(release="r1", port=9, pid=stranger.pid, started=None)
        runtime.records.write("r1-0", record)
        assert runtime.running() == {}  # not trusted...
        assert runtime.records.read("r1-0") is None  # ...and the stale record is gone
        runtime.records.write("r1-0", record)
        runtime.stop("r1-0")
        assert stranger.poll() is None  # never signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_stopping_an_instance_stops_the_processes_it_forked(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    forks = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    env = {**os.environ, MARKER: runtime.marker("r1-0")}
    leader = subprocess.Popen([sys.executable, "-c", forks], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len(marked_processes(runtime.marker("r1-0"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        family = marked_processes(runtime.marker("r1-0"))
        assert len(family) == 2
        runtime.records.directory.mkdir(parents=True)
        started = start_time(leader.pid)
        runtime.records.write(
            "r1-0", ProcessRecord(release="r1", port=9, pid=leader.pid, started=started)
        )
        assert set(runtime.running()) == {"r1-0"}
        runtime.stop("r1-0")
        leader.wait(timeout=30)
        assert not [pid for pid in family if alive(pid)]
        assert runtime.records.read("r1-0") is None
    finally:
        leader.kill()
        leader.wait()


def test_an_instance_log_is_read_in_bounded_memory_rotated_and_removed(tmp_path: Path) -> None:
    from pipelines.deploy import local  # noqa: PLC0415 - its log helpers

    log = tmp_path / "r1-0.log"
    with log.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MB of zeros on no disk at all
        handle.seek(0, os.SEEK_END)
        handle.write(b"last words\n")
    assert local._tail(log, limit=20).endswith("last words")
    local._rotate(log, limit=1024)
    assert not log.exists() and (tmp_path / "r1-0.log.1").is_file()
    runtime = _runtime(tmp_path)
    runtime.records.directory.mkdir(parents=True)
    (runtime.records.directory / "r1-0.log").write_text("old output\n")
    runtime.stop("r1-0")
    assert not (runtime.records.directory / "r1-0.log").exists()


def test_status_says_what_happened_last_and_fails_below_capacity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, "{name: eu, listen: '127.0.0.1:9'}")
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path / "state"))
    environ = {"PIPELINES_STATE_DIR": str(tmp_path / "state")}
    denv = DeployEnv.open(project, load_config(project), "staging", Layout.of(project), environ)
    release = Release("r1", "1.0", "abc", tmp_path)
    started = DeployStarted(deploy="r1-staging", release=release, previous=None, strategy="")
    denv.journal.append(started)
    denv.journal.append(DeployFinished(deploy="r1-staging", status=DeployStatus.SUCCEEDED))
    # The release is recorded as stable, but nothing runs (a reboot).
    assert main(["status", "-C", str(project), "--env", "staging"]) == 1
    shown = capsys.readouterr().out
    assert "last operation: deploy r1-staging: succeeded" in shown
    assert "below capacity: eu: 0 of 2 instances serve" in shown


def test_an_instance_log_tail_shows_no_secret_even_cut_at_its_start(tmp_path: Path) -> None:
    log = tmp_path / "i1.log"
    shown_once = "s3cr3t-db-password"
    log.write_text(f"Traceback ...\nKeyError: connecting with {shown_once} failed\n")
    for limit in range(5, 60):
        shown = _tail(log, limit=limit, secrets=(shown_once,))
        assert not any(shown_once[i:] in shown for i in range(len(shown_once) - 3)), limit
    assert MASK in _tail(log, secrets=(shown_once,))


def test_an_instance_log_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    service = ServiceSettings(command=(sys.executable, "-c", "print('up')"))
    runtime = LocalRuntime(home=tmp_path / "home", service=service, env={})
    release = Release("r1", "1.0", "c1", tmp_path / "release")
    release.directory.mkdir()
    runtime.records.directory.mkdir(parents=True)
    _pid, _argv, log = runtime._launch("i1", release, 18081)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_an_instance_that_prints_its_secret_and_dies_is_reported_masked(tmp_path: Path) -> None:
    code = "import os; print('cannot connect with', os.environ['DB_TOKEN']); raise SystemExit(1)"
    service = ServiceSettings(command=(sys.executable, "-c", code), start_timeout=120)
    runtime = LocalRuntime(home=tmp_path / "home", service=service, env={"DB_TOKEN": "s3cr3t-db"})
    release = Release("r1", "1.0", "c1", tmp_path / "release")
    release.directory.mkdir()
    with pytest.raises(TargetError, match="exited before it was healthy") as raised:
        runtime.start("i1", release)
    assert "s3cr3t-db" not in str(raised.value) and f"cannot connect with {MASK}" in str(
        raised.value
    )


def test_a_docker_instances_values_never_show_in_a_process_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.deploy import docker  # noqa: PLC0415 - its engine call is replaced

    calls: list[tuple[list[str], dict[str, str]]] = []

    def engine(
        argv: list[str], timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        calls.append((argv, dict(env or {})))
        out = "c0ffee\n" if argv[0] == "run" else "true\n"
        return subprocess.CompletedProcess(argv, 0, out, "")

    monkeypatch.setattr(docker, "_docker", engine)
    monkeypatch.setattr(docker, "wait_healthy", lambda *a, **k: None)
    # pipeline.yaml's env may expand a variable of the caller's (${DATABASE_URL}).
    env = {"DATABASE_URL": "postgres://app:s3cr3t@db/app"}
    runtime = docker.DockerRuntime(
        home=tmp_path, service=ServiceSettings(image="shop"), env=env, image="shop", prefix="pp"
    )
    runtime.start("r1-0", Release("r1", "1.0.0", "abc", tmp_path))
    argv, given = next(call for call in calls if call[0][0] == "run")
    assert not any("s3cr3t" in arg for arg in argv)
    assert argv[argv.index("DATABASE_URL") - 1] == "-e"  # by name: the CLI takes the value
    assert given["DATABASE_URL"] == env["DATABASE_URL"] and given["PORT"] == "8080"
