"""One environment's deploy machinery, built from pipeline.yaml: where its state lives, its
targets, the controller, releases on disk, and the guards a deploy passes first (the gate
decision, approval) with every decision written to the audit log."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import atomic
from pipelines.artifacts import manifests
from pipelines.audit import DEPLOY_AUDIT, AuditLog, audit_key
from pipelines.config import Environment, PipelineConfig
from pipelines.deploy.controller import Clock, Controller, RealClock
from pipelines.deploy.journal import Journal
from pipelines.deploy.kubernetes.settings import KUBERNETES
from pipelines.deploy.registry import TargetContext, build_target
from pipelines.deploy.settings import Approval
from pipelines.deploy.sources import MetricSource, ProbeSource, PrometheusSource
from pipelines.deploy.target import Release, Target
from pipelines.errors import EXIT_FAILED, PipelineError, UsageError
from pipelines.flags.evaluate import evaluate
from pipelines.flags.model import load_flags
from pipelines.flags.store import actor
from pipelines.gate_rules import GateDecision, GateStatus
from pipelines.health.run import run_health
from pipelines.layout import DECISION, Layout, logical
from pipelines.project_env import ensure, install_plan
from pipelines.project_facts import read_facts

STATE_ENV = "PIPELINES_STATE_DIR"
APPROVED_BY_ENV = "PIPELINES_APPROVED_BY"


class DeployRefused(PipelineError):
    """A deploy that must not start: no open gate decision, no approval."""

    exit_code = EXIT_FAILED


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
        """The configured targets, in wave order, each built from the registry (a kubernetes
        target is one object: its pods and its router live in the same cluster)."""
        found: list[Target] = []
        for index, item in enumerate(self.environment.deploy.targets):
            if item.kind == KUBERNETES:
                from pipelines.deploy.kubernetes.wiring import make_target  # noqa: PLC0415

                found.append(make_target(self.config, self.environment, item, self.environ))
                continue
            context = TargetContext(
                name=item.name,
                home=self.directory / "targets" / item.name,
                listen=item.listen,
                service=self.config.service,
                env=self.environment.env,
                env_name=self.environment.name,
                project_slug=self.directory.parent.name,
                source=str(self.config.source),
                python=python,
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
    ) -> Controller:
        """A controller wired to the real targets."""
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
        )

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
        # The build's log goes to stderr: stdout is the command's own (JSON) answer.
        with contextlib.redirect_stdout(sys.stderr):
            env, _ = ensure(self.project, plan, self.environ)
        return str(env.python)

    # --- releases -------------------------------------------------------------------------

    def new_release(
        self, version: str | None, commit: str, env: Mapping[str, str] | None = None
    ) -> Release:
        """Snapshot the project's files into ``releases/<id>/`` (kept for rollbacks)."""
        release_id = self.journal.state().next_release_id()
        while (self.directory / "releases" / release_id).exists():  # a crash left one
            release_id = f"r{int(release_id[1:]) + 1}"
        target = self.directory / "releases" / release_id
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        service = self.config.service
        ignore = shutil.ignore_patterns(*service.exclude)
        staging.mkdir(parents=True)
        for entry in service.files:
            source = (self.project / entry).resolve()
            if not source.exists():
                raise UsageError(
                    f"{self.config.source}: service.files lists {entry!r}, "
                    f"which {self.project} does not have",
                    hint="list files and directories of the project",
                )
            if source.is_dir():
                shutil.copytree(source, staging / entry, ignore=ignore, dirs_exist_ok=True)
            else:
                (staging / entry).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, staging / entry)
        staging.rename(target)  # a release is complete or absent
        return Release(
            release_id,
            version or project_version(self.project) or commit[:12],
            commit,
            target,
            dict(env or {}),
            datetime.now(UTC).isoformat(timespec="seconds"),
        )

    # --- guards ---------------------------------------------------------------------------

    def gate_decision(self) -> dict[str, Any]:
        """The newest gate decision for this environment, which must be open."""
        env = self.environment.name
        found = self._find_decision()
        if found is None:
            raise DeployRefused(
                f"no gate decision for environment {env!r} in {self.layout.artifacts} "
                f"or {self.layout.report(logical('gate', DECISION))}",
                hint=f"run `pipelines run --env {env}` first (or deploy with --force "
                "--reason WHY, which is audited)",
            )
        path, decision, run_id = found
        if decision.status is not GateStatus.OPEN:
            reasons = "; ".join(decision.reasons) or "closed"
            raise DeployRefused(
                f"the gate decision {path} is closed for {env!r}: {reasons}",
                hint="fix the pipeline and run it again (or --force --reason WHY, audited)",
            )
        return {"path": str(path), "run_id": run_id, "status": decision.status.value}

    def _find_decision(self) -> tuple[Path, GateDecision, str | None] | None:
        candidates: list[tuple[Path, str | None]] = [
            (m.parent / "gate-decision.json", m.parent.name)
            for m in reversed(manifests(self.layout.artifacts))
        ]
        candidates.append((self.layout.report(logical("gate", DECISION)), None))
        for path, run_id in candidates:
            try:
                decision = GateDecision.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if decision.env == self.environment.name:
                return path, decision, run_id
        return None

    def approval(self, confirm: Callable[[str], bool] | None) -> dict[str, Any]:
        """Approval where the environment requires it: from the CI platform (the
        environment), else a person at a terminal; otherwise refuse (fail closed)."""
        if self.environment.deploy.approval is Approval.NONE:
            return {"required": False}
        who = self.environ.get(APPROVED_BY_ENV)
        if who:
            run = self.environ.get("GITHUB_RUN_ID") or self.environ.get("CI_PIPELINE_ID")
            return {"required": True, "by": who, "via": "ci", "run": run}
        question = f"Deploy to {self.environment.name}? Type the environment's name to approve"
        if confirm is not None and confirm(question):
            return {"required": True, "by": actor(self.environ), "via": "terminal"}
        raise DeployRefused(
            f"environment {self.environment.name!r} requires approval and none was given",
            hint=f"approve at a terminal, or in CI set {APPROVED_BY_ENV} (for example from a "
            "GitHub Environment with required reviewers)",
        )

    def audit(self, action: str, **data: Any) -> dict[str, Any]:
        """Append a deploy decision to the project's hash-chained audit log; its new head."""
        log = self.audit_log()
        entry = log.append(
            {
                "kind": "deploy",
                "action": action,
                "env": self.environment.name,
                "actor": actor(self.environ),
                **data,
            }
        )
        return {"path": str(log.path), "seq": entry.get("seq"), "hash": entry.get("hash")}

    def audit_log(self) -> AuditLog:
        """The deploy audit log, beside the evidence in artifacts/ (hash-chained, signed
        with PIPELINES_AUDIT_KEY when set, like the flags audit log)."""
        return AuditLog(self.layout.artifacts / DEPLOY_AUDIT, audit_key(self.environ))


def project_version(project: Path) -> str | None:
    """``[project] version`` of pyproject.toml, when it is static."""
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    version = data.get("project", {}).get("version")
    return str(version) if isinstance(version, str) else None
