"""One environment's deploy wiring, built from pipeline.yaml: where its state lives, its
targets (from the registry), its metric source, the controller, and the audit log every
decision is written to. Releases on disk are ``releases``; the guards a deploy passes first
are ``guards``."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import msgspec

from pipelines import atomic
from pipelines.actor import actor
from pipelines.audit import DEPLOY_AUDIT, AuditLog, DeployAuditEntry, audit_key
from pipelines.child_env import MaskedOutput, child_environment, masked, secret_values
from pipelines.config.kubernetes import KUBERNETES
from pipelines.config.pipeline import Environment, PipelineConfig
from pipelines.deploy import abort
from pipelines.deploy.controller import Clock, Controller, RealClock
from pipelines.deploy.journal import Journal
from pipelines.deploy.records import AuditHead
from pipelines.deploy.registry import TargetContext, build_target
from pipelines.deploy.sources import MetricSource, ProbeSource, PrometheusSource
from pipelines.deploy.target import Target
from pipelines.errors import ToolError, UsageError
from pipelines.flags.evaluate import evaluate
from pipelines.flags.model import load_flags
from pipelines.health.run import run_health
from pipelines.layout import Layout
from pipelines.project.environment import ensure, install_plan
from pipelines.project.facts import read_facts

if TYPE_CHECKING:  # the kubernetes package imports this module's neighbours at run time
    from pipelines.deploy.kubernetes.argo_controller import ArgoController

STATE_ENV = "PIPELINES_STATE_DIR"
# Where building the project environment for a `python` service command logs to.
PROJECT_ENV_LOG = "project-env.log"


def state_root(environ: Mapping[str, str]) -> Path:
    """Where deploy state lives: PIPELINES_STATE_DIR, else the user's state directory.

    Outside the project on purpose: releases are snapshots of the project, and a linter or
    test run of the project must never walk into them.
    """
    if environ.get(STATE_ENV):
        return Path(environ[STATE_ENV])
    home = environ.get("HOME") or tempfile.gettempdir()
    base = environ.get("XDG_STATE_HOME") or str(Path(home) / ".local" / "state")
    return Path(base) / "portable-pipelines"


def project_slug(project: Path, name: str) -> str:
    """``<name>-<hash of the path>``: two checkouts of one project keep apart."""
    digest = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:10]
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name) + "-" + digest


@dataclass(frozen=True)
class DeployEnv:
    """Everything a deploy of one environment works with."""

    project: Path
    config: PipelineConfig
    environment: Environment
    layout: Layout
    directory: Path
    environ: Mapping[str, str]
    drill: bool = False  # a rollback drill's copy of the environment (deploy/drill.py)

    @classmethod
    def open(
        cls, project: Path, config: PipelineConfig, env: str, layout: Layout,
        environ: Mapping[str, str],
    ) -> DeployEnv:  # fmt: skip
        """The environment's deploy state under the state root."""
        environment = config.environment(env)
        directory = state_root(environ) / project_slug(project, config.name) / environment.name
        return cls(project, config, environment, layout, directory, environ)

    def check_writable(self) -> None:
        """Before anything is deployed: the state and the evidence can both be kept."""
        atomic.writable_dir(self.directory, "the deploy state")
        atomic.writable_dir(self.layout.artifacts, "the deploy evidence")

    @property
    def journal(self) -> Journal:
        """The environment's journal (and its lock): in the cluster of its first kubernetes
        target, else on disk."""
        if any(t.kind == KUBERNETES for t in self.environment.deploy.targets):
            from pipelines.deploy.kubernetes.wiring import cluster_journal  # noqa: PLC0415

            found = cluster_journal(self.config, self.environment, self.directory, self.environ)
            if found is not None:
                return found
        return Journal(self.directory)

    def targets(self, python: str | None = None) -> list[Target]:
        """The configured targets, in wave order, each built from the registry."""
        found: list[Target] = []
        for index, item in enumerate(self.environment.deploy.targets):
            context = TargetContext(
                name=item.name,
                app=self.config.name,
                home=self.directory / "targets" / item.name,
                listen=item.listen,
                service=self.config.service,
                env=self.environment.env,
                env_name=self.environment.name,
                project_slug=self.directory.parent.name,
                source=str(self.config.source),
                python=python,
                pass_env=self.environment.pass_env,
                environ=self.environ,
                drill=self.drill,
                preview_listen=item.preview_listen,
            )
            key = f"environments.{self.environment.name}.deploy.targets[{index}]"
            found.append(build_target(item, context, key))
        return found

    def source(self) -> MetricSource:
        """Prometheus when configured, else probe traffic."""
        analysis = self.environment.deploy.analysis
        if analysis.prometheus:
            return PrometheusSource(
                analysis.prometheus,
                analysis.error_rate_query,
                analysis.latency_query,
                timeout=10.0,
            )
        return ProbeSource(self.config.service.probe_path, analysis.requests)

    def auto_rollback(self, now: datetime | None = None) -> bool:
        """The environment's setting, or the flag it is bound to (when the flag exists)."""
        deploy = self.environment.deploy
        if deploy.auto_rollback_flag is None:
            return deploy.auto_rollback
        flags_path = self.project / self.config.flags_file
        if not flags_path.is_file():
            return deploy.auto_rollback
        flags = load_flags(flags_path)
        flag = flags.flags.get(deploy.auto_rollback_flag)
        if flag is None:
            raise UsageError(
                f"{self.config.source}: environments.{self.environment.name}.deploy."
                f"auto_rollback_flag names {deploy.auto_rollback_flag!r}, which "
                f"{flags_path} does not declare",
                hint="declare the flag, or remove auto_rollback_flag",
            )
        value = evaluate(flag, self.environment.name, now or datetime.now(UTC)).value
        return bool(value)

    def controller(
        self,
        *,
        log: Callable[[str], None],
        source: MetricSource | None = None,
        clock: Clock | None = None,
        python: str | None = None,
    ) -> Controller | ArgoController:
        """A controller wired to the real targets (or to the Rollout of an environment
        handed to Argo Rollouts)."""
        if any(t.kind == KUBERNETES for t in self.environment.deploy.targets):
            from pipelines.deploy.kubernetes.argo_controller import (  # noqa: PLC0415
                ArgoController,
            )
            from pipelines.deploy.kubernetes.wiring import argo_target  # noqa: PLC0415

            argo = argo_target(self.environment)
            if argo is not None:
                return ArgoController(
                    self.config, self.environment, argo, self.environ, self.journal, log
                )
        return Controller(
            self.environment.name,
            self.environment.deploy,
            self.config.service,
            self.targets(python or self.python()),
            source or self.source(),
            self.journal,
            clock=clock or RealClock(),
            auto_rollback=self.auto_rollback(),
            log=log,
            health=self.critical_health,
            aborted=self.abort_reason,
        )

    def abort_reason(self) -> str:
        """Why an abort of the running deploy was asked for, "" when none was."""
        request = abort.pending(self.directory)
        return (request.reason or "abort requested") if request is not None else ""

    def critical_health(self) -> str:
        """Run the environment's health checks: "" when every critical one passes."""
        checks = self.environment.health
        if not checks.checks:
            return ""
        failed = run_health(self.environment.name, checks).critical_failures
        if not failed:
            return ""
        return f"critical health check {failed[0].name} failed: {failed[0].detail}"

    def python(self) -> str | None:
        """The interpreter a ``python`` service command means: the project's own
        environment (built or reused as the install stage does), so its dependencies import.
        None: the interpreter running this tool."""
        command = self.config.service.command
        local = any(t.kind == "local" for t in self.environment.deploy.targets)
        if not local or not command or command[0] not in ("python", "python3"):
            return None
        if not self.config.project_env.enabled:
            return None
        plan = install_plan(self.config, read_facts(self.project))
        # The build's log goes to a file of the environment's state: stdout is the command's
        # own (JSON) answer, and nothing else in the process is redirected meanwhile.
        self.directory.mkdir(parents=True, exist_ok=True)
        # The build runs the project's own code (its build backend, project_env.install): it
        # gets a child's declared environment, never the audit key or an approval.
        declared = child_environment(self.environ, pass_env=self.environment.pass_env)
        hidden = secret_values(declared)  # what it was passed is masked, as in a stage's log
        with (self.directory / PROJECT_ENV_LOG).open("ab") as log:
            output = MaskedOutput(log, hidden)
            try:
                env, _ = ensure(self.project, plan, declared, output=cast(BinaryIO, output))
            except ToolError as exc:
                raise ToolError(masked(exc.message, hidden), hint=exc.hint) from exc
            finally:
                output.finish()
        return str(env.python)

    def audit(self, action: str, **fields: Any) -> AuditHead:
        """Append a deploy decision (a ``DeployAuditEntry``) to the project's hash-chained
        audit log; its new head."""
        log = self.audit_log()
        entry = DeployAuditEntry(
            action=action, env=self.environment.name, actor=actor(self.environ), **fields
        )
        written = log.append(msgspec.to_builtins(entry))
        return AuditHead(str(log.path), written.get("seq"), written.get("hash"))

    def audit_log(self) -> AuditLog:
        """The deploy audit log, beside the evidence in artifacts/ (hash-chained, signed
        with PIPELINES_AUDIT_KEY when set, like the flags audit log)."""
        return AuditLog(self.layout.artifacts / DEPLOY_AUDIT, audit_key(self.environ))
