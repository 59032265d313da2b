"""The controller driven by a fake clock, fake targets and a scripted metric source: every
branch (promote, roll back, pause, resume after a crash, waves) in milliseconds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from msgspec.structs import replace

from pipelines.codec import DamagedFile
from pipelines.config.deploy import (
    AnalysisSettings,
    CanaryPause,
    DeploySettings,
    DeployTarget,
    ServiceSettings,
    StepTime,
    StrategyKind,
)
from pipelines.deploy.analysis import Measurement, Sample, judge
from pipelines.deploy.controller import Controller
from pipelines.deploy.events import StableChanged
from pipelines.deploy.journal import DeployStatus, Journal
from pipelines.deploy.sources import MeasureError
from pipelines.deploy.steps import Start
from pipelines.deploy.target import Release, Running, TargetError
from pipelines.errors import UsageError

GOOD = Sample(tuple([5.0] * 40), tuple([False] * 40))
BAD = Sample(tuple([5.0] * 40), tuple(i % 3 == 0 for i in range(40)))  # a third fail


class Crash(BaseException):
    """Stands in for SIGKILL: nothing in the controller may catch it."""


@dataclass
class FakeClock:
    now_: float = 1000.0

    def now(self) -> float:
        return self.now_

    def sleep(self, seconds: float) -> None:
        self.now_ += seconds


@dataclass
class FakeTarget:
    name: str = "local"
    instances: dict[str, Running] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # releases that crash on start

    def start(self, instance: str, release: Release) -> Running:
        if release.id in self.broken:
            raise TargetError(f"instance {instance} exited before it was healthy")
        running = Running(instance, release.id, f"http://{instance}")
        self.instances[instance] = running
        return running

    def stop(self, instance: str) -> None:
        self.instances.pop(instance, None)

    def answers(self, instance: str, path: str) -> bool:
        return instance in self.instances

    def route(self, weights: Mapping[str, int]) -> float:
        assert set(weights) <= set(self.instances)
        self.weights = dict(weights)
        return 0.1

    def running(self) -> dict[str, Running]:
        return dict(self.instances)

    def routed(self) -> dict[str, int]:
        return dict(self.weights)

    def entrypoint(self) -> str:
        return "http://router"

    def preview(self, instances: Sequence[str]) -> str:
        self.previewed = tuple(instances)
        return "http://preview"

    def shutdown(self) -> None:
        self.instances.clear()


@dataclass
class Script:
    """Measurements to return, in order (then GOOD); an exception is raised."""

    items: list[Sample | BaseException | Exception] = field(default_factory=list)
    calls: int = 0
    prepared: int = 0

    def prepare(self) -> None:
        self.prepared += 1

    def measure(
        self, new: Sequence[str], stable: Sequence[str], seconds: float, versions: tuple[str, str]
    ) -> tuple[Sample, Sample | None]:
        self.calls += 1
        item = self.items.pop(0) if self.items else GOOD
        if isinstance(item, BaseException):
            raise item
        return item, GOOD


SETTINGS = DeploySettings(
    instances=2,
    steps=(25.0, 100.0),
    keep_old_for=10.0,
    analysis=AnalysisSettings(interval=5.0, requests=40),
)


def release(path: Path, rid: str, version: str) -> Release:
    return Release(rid, version, "abc", path)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Journal, FakeTarget]]:
    journal = Journal(tmp_path / "state")
    target = FakeTarget()
    yield journal, target


def controller(
    journal: Journal,
    targets: Sequence[FakeTarget],
    script: Script | None = None,
    **changes: object,
) -> Controller:
    settings = replace(SETTINGS, **changes)  # type: ignore[arg-type]
    return Controller(
        "staging",
        settings,
        ServiceSettings(),
        list(targets),
        script or Script(),
        journal,
        clock=FakeClock(),
    )


def first_release(journal: Journal, target: FakeTarget, tmp_path: Path) -> None:
    done = controller(journal, [target]).deploy(release(tmp_path, "r1", "1.0"), StrategyKind.CANARY)
    assert done.status is DeployStatus.SUCCEEDED


@pytest.mark.parametrize("strategy", list(StrategyKind))
def test_a_healthy_release_is_promoted(
    env: tuple[Journal, FakeTarget], tmp_path: Path, strategy: StrategyKind
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    report = controller(journal, [target]).deploy(release(tmp_path, "r2", "2.0"), strategy)
    assert report.status is DeployStatus.SUCCEEDED
    assert set(target.instances) == {"r2-0", "r2-1"}
    assert target.weights.keys() == {"r2-0", "r2-1"}
    state = journal.state()
    assert state.stable is not None and state.stable.id == "r2"
    assert state.passed == ["r1", "r2"]


@pytest.mark.parametrize("strategy", list(StrategyKind))
def test_a_failed_analysis_rolls_back_at_once(
    env: tuple[Journal, FakeTarget], tmp_path: Path, strategy: StrategyKind
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    report = controller(journal, [target], Script([BAD])).deploy(
        release(tmp_path, "r2", "2.0"), strategy
    )
    assert report.status is DeployStatus.ROLLED_BACK
    assert set(target.instances) == {"r1-0", "r1-1"}
    assert set(target.weights) == {"r1-0", "r1-1"}
    timeline = report.timeline
    assert timeline.fault_seen is not None and timeline.decision is not None
    assert timeline.traffic_on_stable is not None and timeline.cleanup is not None
    assert timeline.fault_seen <= timeline.decision <= timeline.traffic_on_stable
    assert "error_rate" in report.reason
    assert journal.state().stable is not None
    assert journal.state().stable.id == "r1"  # type: ignore[union-attr]


def test_a_release_that_crashes_on_start_never_gets_traffic(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    target.broken.add("r2")
    report = controller(journal, [target]).deploy(
        release(tmp_path, "r2", "2.0"), StrategyKind.BLUE_GREEN
    )
    assert report.status is DeployStatus.ROLLED_BACK
    assert report.timeline.exposed is None
    assert set(target.weights) == {"r1-0", "r1-1"}


def test_without_automatic_rollback_traffic_goes_back_and_the_deploy_waits(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    auto_off = controller(journal, [target], Script([BAD]))
    auto_off.auto_rollback = False
    report = auto_off.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.CANARY)
    assert report.status is DeployStatus.PAUSED
    assert {"r2-0", "r2-1"} <= set(target.instances), "kept for inspection"
    assert set(target.weights) == {"r1-0", "r1-1"}
    with pytest.raises(UsageError, match="paused"):
        controller(journal, [target]).deploy(release(tmp_path, "r3", "3.0"), StrategyKind.CANARY)
    promoted = controller(journal, [target]).promote()
    assert promoted.status is DeployStatus.SUCCEEDED
    assert set(target.weights) == {"r2-0", "r2-1"}
    assert set(target.instances) == {"r2-0", "r2-1"}


def test_an_inconclusive_analysis_pauses_and_rollback_ends_it(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    few = Sample((5.0,), (False,))
    report = controller(journal, [target], Script([few, few])).deploy(
        release(tmp_path, "r2", "2.0"), StrategyKind.CANARY
    )
    assert report.status is DeployStatus.PAUSED
    assert journal.state().last.status is DeployStatus.PAUSED  # type: ignore[union-attr]
    back = controller(journal, [target]).rollback("inconclusive")
    assert back.status is DeployStatus.ROLLED_BACK
    assert set(target.instances) == {"r1-0", "r1-1"}


def test_an_unreachable_metric_source_never_promotes(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    report = controller(journal, [target], Script([MeasureError("refused")])).deploy(
        release(tmp_path, "r2", "2.0"), StrategyKind.CANARY
    )
    assert report.status is DeployStatus.ROLLED_BACK
    assert "Error" in report.reason


def test_a_controller_killed_mid_analysis_is_resumed_from_its_journal(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    with pytest.raises(Crash):
        controller(journal, [target], Script([Crash()])).deploy(
            release(tmp_path, "r2", "2.0"), StrategyKind.CANARY
        )
    state = journal.state()
    assert state.last is not None and state.last.status is DeployStatus.RUNNING
    with pytest.raises(UsageError, match="interrupted"):
        controller(journal, [target]).deploy(release(tmp_path, "r3", "3.0"), StrategyKind.CANARY)
    resumed = controller(journal, [target]).resume()
    assert resumed.status is DeployStatus.SUCCEEDED
    assert set(target.weights) == {"r2-0", "r2-1"}


def test_rollback_after_a_finished_deploy_restarts_the_previous_release(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    controller(journal, [target]).deploy(release(tmp_path, "r2", "2.0"), StrategyKind.ROLLING)
    report = controller(journal, [target]).rollback("bad release")
    assert report.status is DeployStatus.ROLLED_BACK
    assert set(target.instances) == {"r1-0", "r1-1"}
    assert journal.state().stable.id == "r1"  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="no earlier release"):
        controller(journal, [target]).rollback("again")


def test_a_failure_in_the_second_region_rolls_back_the_first_too(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    east, west = FakeTarget("east"), FakeTarget("west")
    done = controller(journal, [east, west]).deploy(
        release(tmp_path, "r1", "1.0"), StrategyKind.CANARY
    )
    assert done.status is DeployStatus.SUCCEEDED
    west.broken.add("r2")
    report = controller(journal, [east, west]).deploy(
        release(tmp_path, "r2", "2.0"), StrategyKind.BLUE_GREEN
    )
    assert report.status is DeployStatus.ROLLED_BACK
    for region in (east, west):
        assert set(region.weights) == {"r1-0", "r1-1"}
        assert set(region.instances) == {"r1-0", "r1-1"}


def test_two_deploys_of_one_environment_cannot_run_at_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    with (
        journal.lock("deploy r1"),
        pytest.raises(UsageError, match="another deploy") as raised,
        journal.lock("deploy r2"),
    ):
        pass
    assert raised.value.exit_code == 2
    with journal.lock("deploy r3"):  # released when its holder is done
        pass


def test_a_torn_last_line_is_cut_off_on_open_and_said_so(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    journal.append(StableChanged(release="r1"))
    with journal.path.open("a") as handle:
        handle.write('{"event": "deploy-sta')
    reopened = Journal(tmp_path / "state")
    assert reopened.entries() == [StableChanged(at=reopened.entries()[0].at, release="r1")]
    assert "torn by a crash" in reopened.repaired and "deploy-sta" in reopened.repaired
    reopened.append(StableChanged(release="r2"))  # on a line of its own
    entries = Journal(tmp_path / "state").entries()
    assert [e.release for e in entries if isinstance(e, StableChanged)] == ["r1", "r2"]
    assert len(entries) == 2


def test_a_damaged_line_inside_the_journal_makes_it_unreadable(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    journal.append(StableChanged(release="r1"))
    with journal.path.open("a") as handle:
        handle.write('{"event": "stable-changed", "release": 7}\n')
    journal.append(StableChanged(release="r2"))
    with pytest.raises(DamagedFile, match=r"journal\.jsonl:2: not a journal event"):
        journal.state()


def test_a_failed_critical_health_check_rolls_back_mid_analysis(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    checking = controller(journal, [target])
    checking.health = lambda: "critical health check api failed: 503"
    report = checking.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.CANARY)
    assert report.status is DeployStatus.ROLLED_BACK
    assert "api failed: 503" in report.reason
    assert set(target.weights) == {"r1-0", "r1-1"}


def test_a_journal_written_by_an_earlier_version_still_tells_the_story(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    journal.directory.mkdir(parents=True)
    release_entry = '{"id": "r1", "version": "1.0", "commit": "abc", "directory": "/x", "env": {}}'
    lines = [
        '{"at": "2026-11-01T10:00:00.000+00:00", "event": "deploy-started", "deploy": '
        f'"r1-staging", "release": {release_entry}, "previous": null, "strategy": "canary", '
        '"targets": ["local"]}',
        '{"at": "2026-11-01T10:00:01.000+00:00", "event": "target-planned", "target": "local",'
        ' "steps": [{"kind": "start", "instance": "r1-0"}, {"kind": "route", "weights": '
        '[["r1-0", 100]]}], "stable": []}',
        # Earlier analysis entries spread the measurement over the entry.
        '{"at": 1761991202.5, "event": "analysis", "target": "local", "weight": 100, '
        '"verdict": "Successful", "detail": "", "new": {}, "stable": null, "metrics": []}',
        '{"at": "2026-11-01T10:00:03.000+00:00", "event": "deploy-finished", '
        '"deploy": "r1-staging", "status": "succeeded", "reason": ""}',
    ]
    journal.path.write_text("\n".join(lines) + "\n")
    state = journal.state()
    assert state.stable is not None and state.stable.directory == Path("/x")
    assert state.last is not None and state.last.targets["local"].steps[0] == Start("r1-0")
    assert state.passed == ["r1"]


@dataclass
class CountingClock(FakeClock):
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


@pytest.mark.parametrize("auto_rollback", [True, False])
def test_an_abort_mid_analysis_puts_traffic_on_stable_at_once(
    env: tuple[Journal, FakeTarget], tmp_path: Path, auto_rollback: bool
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    script = Script()
    aborting = controller(journal, [target], script)
    aborting.auto_rollback = auto_rollback  # an abort rolls back whatever this says
    aborting.aborted = lambda: "bad config" if script.calls >= 1 else ""
    report = aborting.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.CANARY)
    assert report.status is DeployStatus.ROLLED_BACK
    assert report.reason == "aborted: bad config"
    assert set(target.weights) == {"r1-0", "r1-1"}
    assert set(target.instances) == {"r1-0", "r1-1"}
    last = journal.state().last
    assert last is not None and last.status is DeployStatus.ROLLED_BACK
    assert last.reason == "aborted: bad config"
    assert journal.state().stable.id == "r1"  # type: ignore[union-attr]


def test_an_abort_before_a_step_starts_none_of_the_new_release(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    aborting = controller(journal, [target])
    aborting.aborted = lambda: "operator"
    report = aborting.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.ROLLING)
    assert report.status is DeployStatus.ROLLED_BACK
    assert report.timeline.exposed is None
    assert set(target.weights) == {"r1-0", "r1-1"}


def test_a_hold_looks_for_an_abort_every_second(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    clock = CountingClock()
    holding = controller(journal, [target], keep_old_for=30.0)
    holding.clock = clock
    holding.aborted = lambda: "stop" if sum(clock.sleeps) >= 3.0 else ""
    report = holding.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.BLUE_GREEN)
    assert report.status is DeployStatus.ROLLED_BACK
    assert report.reason == "aborted: stop"
    assert clock.sleeps and max(clock.sleeps) <= 1.0
    assert sum(clock.sleeps) < 30.0
    assert set(target.weights) == {"r1-0", "r1-1"}


def test_a_deploy_never_takes_a_stable_release_that_does_not_run_for_a_first_one(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    target.instances.clear()  # gone (a reboot) between the check and the plan
    deployer = controller(journal, [target])
    assert deployer.stable_down() == ["local: no instance of r1 runs"]
    report = deployer.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.CANARY)
    assert report.status is DeployStatus.FAILED
    assert "`pipelines restore` brings it back" in report.reason
    assert not target.instances  # nothing of r2 was started unjudged
    state = journal.state()
    assert state.stable is not None and state.stable.id == "r1"


def test_a_first_deploy_is_one_where_no_release_was_ever_recorded(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    assert controller(journal, [target]).stable_down() == []
    first_release(journal, target, tmp_path)
    assert controller(journal, [target]).stable_down() == []
    target.weights.clear()
    assert controller(journal, [target]).stable_down() == ["local: its router does not serve"]


def test_the_source_is_ready_before_the_new_release_is_exposed(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    script = Script()
    seen: list[int] = []
    route = target.route

    def route_and_see(weights: Mapping[str, int]) -> float:
        seen.append(script.prepared)  # how often it was prepared when traffic moved
        return route(weights)

    target.route = route_and_see  # type: ignore[method-assign]  # a spy on the routing
    controller(journal, [target], script).deploy(
        release(tmp_path, "r2", "2.0"), StrategyKind.CANARY
    )
    assert seen and seen[0] == 1


def test_fault_seen_is_stamped_when_the_judgement_is_made(
    env: tuple[Journal, FakeTarget], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    deployer = controller(journal, [target], Script([BAD]))
    clock = deployer.clock
    assert isinstance(clock, FakeClock)
    judged: list[float] = []

    def slow_judge(*args: object, **kwargs: object) -> Measurement:
        clock.sleep(3.0)  # a judgement that takes its time (loading what it needs, ...)
        judged.append(clock.now())
        return judge(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("pipelines.deploy.controller.judge", slow_judge)
    report = deployer.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.CANARY)
    assert report.status is DeployStatus.ROLLED_BACK
    timeline = report.timeline
    assert timeline.exposed is not None and timeline.fault_seen is not None
    assert timeline.fault_seen >= judged[0]  # not the moment the sample was handed over
    assert timeline.exposed <= timeline.fault_seen <= timeline.decision  # type: ignore[operator]


def _weights_of(target: FakeTarget) -> set[str]:
    return {name.split("-")[0] for name, weight in target.weights.items() if weight}


def test_a_canary_pause_waits_for_promote_and_then_carries_on(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    steps = (25.0, CanaryPause(StepTime(30.0)), 50.0, CanaryPause(None), 100.0)
    deployer = controller(journal, [target], steps=steps)
    clock = deployer.clock
    assert isinstance(clock, FakeClock)
    began = clock.now()
    report = deployer.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.CANARY)
    assert report.status is DeployStatus.PAUSED
    assert "pause until `pipelines promote`" in report.reason
    assert clock.now() - began >= 30.0  # the timed pause waited
    assert report.timeline.fault_seen is None and report.timeline.decision is None
    assert _weights_of(target) == {"r1", "r2"}  # at 50%, as the pause found it
    promoted = controller(journal, [target], steps=steps).promote()
    assert promoted.status is DeployStatus.SUCCEEDED
    assert _weights_of(target) == {"r2"}


def test_a_full_promotion_skips_the_analyses_and_weights_still_ahead(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    steps = (10.0, CanaryPause(None), 25.0, 50.0, 100.0)
    controller(journal, [target], steps=steps).deploy(
        release(tmp_path, "r2", "2.0"), StrategyKind.CANARY
    )
    script = Script()
    routes: list[dict[str, int]] = []
    route = target.route

    def spy(weights: Mapping[str, int]) -> float:
        routes.append(dict(weights))
        return route(weights)

    target.route = spy  # type: ignore[method-assign]  # a spy on the routing
    report = controller(journal, [target], script, steps=steps).promote(full=True)
    assert report.status is DeployStatus.SUCCEEDED
    assert script.calls == 0  # no analysis at 25% or 50%
    assert [set(weights) for weights in routes] == [{"r2-0", "r2-1"}]  # straight to 100%
    last = journal.state().last
    assert last is not None and last.full


def test_blue_green_without_auto_promote_waits_before_the_switch(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    report = controller(journal, [target], auto_promote=False).deploy(
        release(tmp_path, "r2", "2.0"), StrategyKind.BLUE_GREEN
    )
    assert report.status is DeployStatus.PAUSED
    assert {"r2-0", "r2-1"} <= set(target.instances)  # started, smoke-tested, analysed
    assert _weights_of(target) == {"r1"}  # and not switched to
    assert report.timeline.exposed is None
    promoted = controller(journal, [target], auto_promote=False).promote()
    assert promoted.status is DeployStatus.SUCCEEDED
    assert set(target.instances) == {"r2-0", "r2-1"}


def test_a_post_promotion_analysis_that_fails_switches_back(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    # The pre-promotion analysis passes; the one after the switch fails.
    script = Script([GOOD, BAD])
    report = controller(journal, [target], script, post_promotion_analysis=True).deploy(
        release(tmp_path, "r2", "2.0"), StrategyKind.BLUE_GREEN
    )
    assert report.status is DeployStatus.ROLLED_BACK
    assert "analyse r2-0+r2-1 at 100%" in report.reason
    assert report.timeline.exposed is not None  # it had all the traffic
    assert set(target.instances) == {"r1-0", "r1-1"} and _weights_of(target) == {"r1"}


def test_a_blue_green_new_pool_is_previewed_before_the_switch(
    env: tuple[Journal, FakeTarget], tmp_path: Path
) -> None:
    journal, target = env
    first_release(journal, target, tmp_path)
    deployer = controller(journal, [target], auto_promote=False)
    previewing = (DeployTarget(name="local", preview_listen="127.0.0.1:19999"),)
    deployer.settings = replace(deployer.settings, targets=previewing)
    report = deployer.deploy(release(tmp_path, "r2", "2.0"), StrategyKind.BLUE_GREEN)
    assert report.status is DeployStatus.PAUSED
    assert target.previewed == ("r2-0", "r2-1")
    assert _weights_of(target) == {"r1"}
