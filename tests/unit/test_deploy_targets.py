"""Targets are a runtime plus a router, built from the registry by the names pipeline.yaml
gives them: the composition, the registry's errors, and the instance records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.config import load_config
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.instances import ContainerRecord, ProcessRecord, Records
from pipelines.deploy.nginx import NginxRouter
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
