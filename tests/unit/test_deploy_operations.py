"""The deploy operations around the controller, without servers: how `abort` waits for the
controller that holds the lock, and how often a waiting controller looks for an abort."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from msgspec.structs import replace

from pipelines.config.deploy import CanaryPause, StepTime, StrategyKind
from pipelines.config.pipeline import load_config
from pipelines.deploy import operations
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.events import DeployStarted
from pipelines.deploy.journal import DeployStatus, Journal
from pipelines.deploy.kubernetes.lease import LeaseBusy
from pipelines.deploy.operations import Aborted
from pipelines.deploy.target import Release
from pipelines.errors import UsageError
from pipelines.layout import Layout
from tests.unit.test_deploy_controller import (
    FakeClock,
    FakeTarget,
    controller,
    first_release,
    release,
)


@dataclass
class Sleeps:
    """A clock that remembers every sleep."""

    now_: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.now_

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_ += seconds


def _running_deploy(tmp_path: Path, interval: str) -> DeployEnv:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text(
        "version: 1\nname: shop\nenvironments:\n  staging:\n    deploy:\n"
        f"      analysis: {{interval: {interval}}}\n"
    )
    environ = {"PIPELINES_STATE_DIR": str(tmp_path / "state")}
    denv = DeployEnv.open(project, load_config(project), "staging", Layout.of(project, {}), environ)
    denv.journal.append(
        DeployStarted(
            deploy="r1-staging", release=Release("r1", "1.0", "abc", project),
            previous=None, strategy="canary",
        )
    )  # fmt: skip
    return denv


def test_abort_waits_for_any_holder_of_the_lock_as_often_as_an_analysis_measures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _running_deploy(tmp_path, "200ms")
    busy = [LeaseBusy("the lease shop/staging is held by ci-job-7")] * 3  # not a file lock's words
    done = Aborted("r1-staging", DeployStatus.ROLLED_BACK, "aborted: stop", by_controller=True)

    def locked(*args: object, **kwargs: object) -> Aborted:
        if busy:
            raise busy.pop()
        return done

    monkeypatch.setattr(operations, "_abort_locked", locked)
    clock = Sleeps()
    aborted = operations.abort(denv, "stop", log=lambda line: None, pid=1, wait=60, clock=clock)
    assert aborted is done
    assert clock.slept == [0.2, 0.2, 0.2]


def test_abort_gives_up_on_other_errors_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _running_deploy(tmp_path, "5s")

    def refused(*args: object, **kwargs: object) -> Aborted:
        raise UsageError("environment 'staging' has no earlier release to roll back to")

    monkeypatch.setattr(operations, "_abort_locked", refused)
    clock = Sleeps()
    with pytest.raises(UsageError, match="no earlier release"):
        operations.abort(denv, "stop", log=lambda line: None, pid=1, wait=60, clock=clock)
    assert clock.slept == []
    assert not (denv.directory / "abort-request.json").exists()


def test_a_waiting_controller_looks_for_an_abort_once_an_analysis_interval(
    tmp_path: Path,
) -> None:
    journal, target = Journal(tmp_path / "state"), FakeTarget()
    first_release(journal, target, tmp_path)
    seen: list[float] = []
    deployer = controller(
        journal,
        [target],
        steps=(50.0, CanaryPause(StepTime(10.0)), 100.0),
        analysis=replace(controller(journal, [target]).settings.analysis, interval=0.25),
    )
    clock = deployer.clock
    assert isinstance(clock, FakeClock)

    def aborted() -> str:
        seen.append(clock.now())
        return ""

    deployer.aborted = aborted
    report = deployer.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.CANARY)
    assert report.status is DeployStatus.SUCCEEDED
    gaps = [later - earlier for earlier, later in itertools.pairwise(seen)]
    assert max(gaps) <= 0.25 + 1e-9
