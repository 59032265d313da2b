"""Rollback drills: deploy a known-good release, then a faulty one while clients send steady
traffic, and measure whether and how fast the fault is detected and rolled back.

A drill runs in its own state directory and on free loopback ports, so it rehearses an
environment's real settings (strategy, analysis, limits) without touching what it serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import msgspec

from pipelines.config.deploy import StrategyKind
from pipelines.config.kubernetes import KUBERNETES, Router
from pipelines.deploy.controller import DeployReport
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.instances import free_port
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.kubernetes.manifests import DRILL_HEADER
from pipelines.deploy.kubernetes.target import release_of
from pipelines.deploy.load import LoadGenerator, LoadResult
from pipelines.deploy.records import DrillReportFile
from pipelines.deploy.releases import new_release
from pipelines.errors import UsageError

GOOD, FAULTY = "drill-good", "drill-faulty"


@dataclass
class DrillReport:
    """A drill's measurements and verdict."""

    env: str
    strategy: str
    fault: str
    sla_seconds: float
    deploy: DeployReport | None = None
    load: LoadResult = field(default_factory=LoadResult)
    final_versions: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)
    clients_measured: bool = True  # False: no client load was sent (--rate 0)

    @property
    def time_to_detect(self) -> float | None:
        """From the start of the faulty deploy to the rollback decision."""
        timeline = self.deploy.timeline if self.deploy else None
        if timeline is None or timeline.decision is None:
            return None
        return timeline.decision - timeline.started

    @property
    def time_to_rollback(self) -> float | None:
        """From the decision until all traffic was on the good release."""
        timeline = self.deploy.timeline if self.deploy else None
        if timeline is None or timeline.decision is None or timeline.traffic_on_stable is None:
            return None
        return timeline.traffic_on_stable - timeline.decision

    @property
    def passed(self) -> bool:
        """Detected, rolled back within the SLA, nothing lost, and the good release serves."""
        return not self.problems

    def file(self) -> DrillReportFile:
        """drill-report.json."""
        detect, back = self.time_to_detect, self.time_to_rollback
        total = None if detect is None or back is None else detect + back
        deploy = self.deploy
        return DrillReportFile(
            env=self.env,
            strategy=self.strategy,
            fault=self.fault,
            sla_seconds=self.sla_seconds,
            passed=self.passed,
            problems=list(self.problems),
            time_to_detect_seconds=None if detect is None else round(detect, 3),
            time_to_rollback_seconds=None if back is None else round(back, 3),
            detect_and_rollback_seconds=None if total is None else round(total, 3),
            outcome=deploy.status.value if deploy else None,
            reason=deploy.reason if deploy else "",
            timeline=deploy.timeline if deploy else None,
            clients=self.load.summary(),
            clients_measured=self.clients_measured,
            final_versions=list(self.final_versions),
        )


def drill_env(denv: DeployEnv) -> DeployEnv:
    """The environment's settings in a state directory of its own, on free ports. With a
    kubernetes target, also under a name of its own (``<env>-drill``): its Deployments,
    Services, journal and Lease are apart from the environment's, and its HTTPRoute takes only
    requests that carry the drill's header."""
    handed_off = [
        t.name
        for t in denv.environment.deploy.targets
        if t.kind == KUBERNETES and t.cluster.router is Router.ARGO_ROLLOUTS
    ]
    if handed_off:
        raise UsageError(
            f"{denv.config.source}: environments.{denv.environment.name} hands its deploys "
            f"to Argo Rollouts ({', '.join(handed_off)}): Argo's own analysis decides its "
            "rollbacks, so there is no rollback of ours to rehearse",
            hint="drill an environment with a gateway-api or replicas router, or local or "
            "docker targets, and the same strategy and analysis settings",
        )
    targets = tuple(
        msgspec.structs.replace(
            target,
            listen=f"127.0.0.1:{free_port()}",
            preview_listen=f"127.0.0.1:{free_port()}" if target.preview_listen else None,
        )
        for target in denv.environment.deploy.targets
    )
    deploy = msgspec.structs.replace(denv.environment.deploy, targets=targets)
    environment = msgspec.structs.replace(denv.environment, deploy=deploy)
    if any(t.kind == KUBERNETES for t in targets):
        environment = msgspec.structs.replace(environment, name=environment.name + "-drill")
    directory = denv.directory.with_name(denv.directory.name + "-drill")
    return replace(denv, environment=environment, directory=directory, drill=True)


def run_drill(
    denv: DeployEnv,
    *,
    strategy: StrategyKind,
    fault: str,
    sla_seconds: float,
    rate: float,
    log: Callable[[str], None],
) -> DrillReport:
    """Good release, then the faulty one under load; check and time the rollback. With
    ``rate`` 0 no client load is sent (a cluster this machine cannot reach): the final state
    is then what the router answers, and lost requests are not measured."""
    faults = denv.config.service.faults
    if fault not in faults:
        raise UsageError(
            f"{denv.config.source}: service.faults has no fault {fault!r}",
            hint=f"use one of: {', '.join(sorted(faults))}"
            if faults
            else "declare the variables "
            "that make your service fail, for example service: {faults: {errors: "
            "{MYAPP_FAIL_RATE: '0.3'}}}",
        )
    report = DrillReport(denv.environment.name, strategy.value, fault, sla_seconds)
    drill = drill_env(denv)
    journal = drill.journal
    if drill.directory.exists() or journal.entries():  # a drill that died: start afresh
        for target in drill.targets():
            target.shutdown()
        journal.discard()
    controller = drill.controller(log=log)
    controller.auto_rollback = True  # a drill checks the automatic rollback itself
    targets = controller.targets
    try:
        good = new_release(drill, GOOD, "drill")
        first = controller.deploy(good, strategy)
        if first.status is not DeployStatus.SUCCEEDED:
            report.problems.append(f"the good release did not deploy: {first.reason}")
            return report
        faulty = new_release(drill, FAULTY, "drill", dict(faults[fault]))
        if rate > 0:
            entry = targets[0].entrypoint() + denv.config.service.probe_path
            header = {DRILL_HEADER: drill.environment.name}
            with LoadGenerator(entry, rate, headers=header) as load:
                time.sleep(0.5)  # steady traffic before the fault
                report.deploy = controller.deploy(faulty, strategy)
                time.sleep(0.5)  # and after the rollback
            report.load = load.result
            path = denv.config.service.probe_path
            report.final_versions = _versions(targets[0].entrypoint(), path, header)
        else:
            report.clients_measured = False
            report.deploy = controller.deploy(faulty, strategy)
            versions = {good.id: good.version, faulty.id: faulty.version}
            routed = {
                release_of(name) for target in targets for name, w in target.routed().items() if w
            }
            report.final_versions = tuple(sorted(versions.get(r, r) for r in routed))
        _judge(report, good.version)
    finally:
        for target in targets:
            target.shutdown()
        journal.discard()
    return report


def _versions(
    entrypoint: str, path: str, headers: Mapping[str, str], count: int = 20
) -> tuple[str, ...]:
    import httpx  # noqa: PLC0415 - only a drill asks

    seen: set[str] = set()
    with httpx.Client(timeout=5.0, headers=dict(headers)) as client:
        for _ in range(count):
            try:
                body = client.get(entrypoint + path).json()
            except (httpx.HTTPError, ValueError):
                seen.add("(no answer)")
                continue
            seen.add(str(body.get("version")) if isinstance(body, dict) else "(unknown)")
    return tuple(sorted(seen))


def _judge(report: DrillReport, good: str) -> None:
    deploy = report.deploy
    if deploy is None or deploy.status is not DeployStatus.ROLLED_BACK:
        status = deploy.status.value if deploy else "not run"
        report.problems.append(f"the faulty release was not rolled back ({status})")
    detect, back = report.time_to_detect, report.time_to_rollback
    if detect is not None and back is not None and detect + back > report.sla_seconds:
        report.problems.append(
            f"detect + roll back took {detect + back:.1f} s, over the SLA of "
            f"{report.sla_seconds:g} s"
        )
    if report.load.lost:
        report.problems.append(
            f"{len(report.load.lost)} client requests were lost (resets or router errors)"
        )
    if report.final_versions != (good,):
        report.problems.append(
            f"the final state serves {', '.join(report.final_versions)}, not {good}"
        )
