"""The controller of an environment handed to Argo Rollouts: the same four operations as the
step-by-step controller (deploy, resume, promote, rollback), journalled the same way, with
the outcome read from the Rollout's ``.status``. The guards before a deploy (gate, approval,
audit) are the operations' own, whichever controller they drive."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipelines.config.deploy import DeployTarget, StrategyKind
from pipelines.config.pipeline import Environment, PipelineConfig
from pipelines.deploy.controller import DeployReport
from pipelines.deploy.events import DeployFinished, DeployPaused, DeployStarted, DeployStatus
from pipelines.deploy.journal import Journal
from pipelines.deploy.kubernetes.argo import Reading, RolloutStatus
from pipelines.deploy.kubernetes.wiring import ArgoAction, hand_off
from pipelines.deploy.target import Release, Target
from pipelines.errors import UsageError

STATUS = {
    Reading.SUCCEEDED: DeployStatus.SUCCEEDED,
    Reading.ROLLED_BACK: DeployStatus.ROLLED_BACK,
    Reading.PAUSED: DeployStatus.PAUSED,
    Reading.WAITING: DeployStatus.FAILED,  # no outcome in time is never a success
}


@dataclass
class ArgoController:
    """Drives one environment's Rollout."""

    config: PipelineConfig
    environment: Environment
    target: DeployTarget
    environ: Mapping[str, str]
    journal: Journal
    log: Callable[[str], None]
    auto_rollback: bool = True  # Argo always aborts to the stable ReplicaSet on a failure

    @property
    def targets(self) -> list[Target]:
        """Drills move traffic themselves, which a Rollout does not let them do."""
        raise UsageError(
            "a rollback drill does not run on an argo-rollouts target: Argo's own analysis "
            "decides its rollbacks",
            hint="drill an environment whose kubernetes.router is gateway-api or replicas",
        )

    def deploy(self, release: Release, strategy: StrategyKind) -> DeployReport:
        """Apply the Rollout of ``release`` and follow it to an outcome."""
        previous = self.journal.state().stable
        deploy_id = f"{release.id}-{self.environment.name}"
        self.journal.append(
            DeployStarted(
                deploy=deploy_id,
                release=release,
                previous=previous.id if previous else None,
                strategy=strategy.value,
                targets=[self.target.name],
            )
        )
        report = DeployReport(deploy_id, release, previous, strategy.value)
        return self._finish(report, self._hand_off(ArgoAction.DEPLOY, release, strategy))

    def resume(self) -> DeployReport:
        """Follow the Rollout again (a controller that died left it to Argo meanwhile)."""
        return self._again(ArgoAction.FOLLOW)

    def promote(self, *, full: bool = False) -> DeployReport:
        """Continue a paused Rollout (``full``: past all its remaining steps)."""
        return self._again(ArgoAction.PROMOTE_FULL if full else ArgoAction.PROMOTE)

    def rollback(self, reason: str) -> DeployReport:
        """Abort the Rollout: Argo goes back to the stable ReplicaSet."""
        report = self._again(ArgoAction.ABORT)
        report.reason = reason if report.status is DeployStatus.ROLLED_BACK else report.reason
        return report

    def restore(self, reason: str) -> DeployReport:
        """The cluster keeps the Rollout and Kubernetes restarts its pods, so there is nothing
        to bring back but the stable release's traffic: the same as aborting the Rollout."""
        return self.rollback(reason)

    def _again(self, action: ArgoAction) -> DeployReport:
        last = self.journal.state().last
        if last is None:
            raise UsageError(
                f"environment {self.environment.name!r} has no deploy to {action.value}",
                hint="deploy first",
            )
        report = DeployReport(last.id, last.release, last.previous, last.strategy)
        return self._finish(report, self._hand_off(action, None, None))

    def _hand_off(
        self, action: ArgoAction, release: Release | None, strategy: StrategyKind | None
    ) -> RolloutStatus:
        return hand_off(
            self.config,
            self.environment,
            self.target,
            self.environ,
            action=action,
            log=self.log,
            release=release,
            strategy=strategy,
        )

    def _finish(self, report: DeployReport, status: RolloutStatus) -> DeployReport:
        report.status = STATUS[status.reading]
        report.reason = f"Rollout {status.phase or 'without a phase'}: {status.message}"
        if report.status is DeployStatus.PAUSED:
            self.journal.append(DeployPaused(deploy=report.deploy, reason=report.reason))
        else:
            self.journal.append(
                DeployFinished(deploy=report.deploy, status=report.status, reason=report.reason)
            )
        return report
