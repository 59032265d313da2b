"""The deploy-side functions of the module: deploy, resume, promote, abort, rollback, status,
watch and rollback drills, each the SDK's own command in the toolchain, never from cache.

Each acts on the world, so its result is an exported ``outcome.json`` (exit code and output)
beside the evidence it left, whatever happened; ``verdict`` fails on it. Only targets that
outlive the exec are deployed (``ci.targets``); a drill runs whole inside its one exec.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import dagger
from dagger import Doc, dag

from ci.containers import (
    COPY_ARTIFACTS,
    EXIT_CODE_FILE,
    WORKDIR,
    fresh,
    parse_exit_code,
    recording_exit,
)
from ci.functions import AuditKey, DeployEnvName, Reason, never_cached
from ci.targets import (
    STATE_CACHE,
    STATE_ROOT,
    parse_targets,
    refuse_ephemeral,
    state_dir,
    targets_argv,
)
from ci.verdicts import OUTCOME, outcome_record

if TYPE_CHECKING:
    from ci.plan_exec import PlanSpec

# A drill starts and stops everything inside its one exec: its state stays in that exec
# (never the state volume), so no PID it records is ever read by a later call.
DRILL_STATE = "/tmp/pipelines-drill-state"  # noqa: S108 - inside the exec's own container
KUBECONFIG = "/run/secrets/pipelines-kubeconfig"


class DeployFunctions:
    """Mixed into the module's object: its functions are registered with the others."""

    if TYPE_CHECKING:  # provided by the module's object (its fields and its plan)
        project: str | None
        kubeconfig: dagger.Secret | None

        def workspace(self) -> dagger.Container: ...

        async def plan(self, env: str, config: str | None = None) -> PlanSpec: ...

    async def deploy_state(self, env: str, config: str | None = None) -> str:
        """Where this project's deploy state lives, once its targets are known to outlive
        the exec (else a DeployRefusedError naming the targets that would)."""
        printed = await self.workspace().with_exec(targets_argv(env, config)).stdout()
        refuse_ephemeral(env, parse_targets(printed))
        if self.project:
            return state_dir(self.project)
        return state_dir((await self.plan(env, config)).pipeline)

    def deploy_container(
        self,
        argv: list[str],
        *,
        state: str,
        reports: dagger.Directory | None = None,
        audit_key: dagger.Secret | None = None,
        approved_by: str | None = None,
    ) -> dagger.Container:
        """The toolchain with the deploy state, the secrets and a nonce, then ``argv``.

        The state volume holds the journals and the audit log (``artifacts`` is set there so
        the hash chain continues from call to call); what the command left there is copied to
        ``/src/artifacts`` for the export. ``state`` outside ``STATE_ROOT`` stays in this exec.
        """
        container = self.workspace()
        if state.startswith(STATE_ROOT + "/"):
            container = container.with_mounted_cache(STATE_ROOT, dag.cache_volume(STATE_CACHE))
        artifacts = f"{state}/artifacts"
        container = (
            container.with_env_variable("PIPELINES_STATE_DIR", state)
            .with_env_variable("PIPELINES_ARTIFACTS_DIR", artifacts)
            .with_directory(f"{WORKDIR}/artifacts", dag.directory())
        )
        if reports is not None:  # the `ci` run's reports hold the gate decision
            container = container.with_directory(f"{WORKDIR}/reports", reports)
        if audit_key is not None:
            container = container.with_secret_variable("PIPELINES_AUDIT_KEY", audit_key)
        if approved_by:
            container = container.with_env_variable("PIPELINES_APPROVED_BY", approved_by)
        if self.kubeconfig is not None:  # a file only the exec can read, never a variable
            container = container.with_mounted_secret(
                KUBECONFIG, self.kubeconfig
            ).with_env_variable("KUBECONFIG", KUBECONFIG)
        # Never from cache: a deploy acts on the world, so every call must really run.
        return container.with_(fresh("never")).with_exec(recording_exit(argv, then=COPY_ARTIFACTS))

    async def outcome(self, container: dagger.Container, command: str) -> dagger.Directory:
        """The artifacts a command left, with its exit code and output (``outcome.json``),
        whatever happened: an exec the engine fails becomes the outcome, never a lost export."""
        try:
            synced = await container.sync()
            code = parse_exit_code(await synced.file(EXIT_CODE_FILE).contents())
            output = (await synced.stdout()) + (await synced.stderr())
            artifacts = synced.directory(f"{WORKDIR}/artifacts")
        except dagger.ExecError as exc:
            code, output = exc.exit_code or 3, f"{exc.message}\n{exc.stdout}\n{exc.stderr}"
            artifacts = dag.directory()
        except dagger.QueryError as exc:  # the engine could not run it at all: fail closed
            code, output, artifacts = 3, str(exc), dag.directory()
        record = outcome_record(command, code, output)
        return artifacts.with_new_file(OUTCOME, json.dumps(record, indent=2))

    async def deploy_operation(
        self,
        command: str,
        argv: list[str],
        env: str,
        *,
        audit_key: dagger.Secret | None,
        reports: dagger.Directory | None = None,
        approved_by: str | None = None,
    ) -> dagger.Directory:
        """A deploy-side command (``pipelines ARGV --env ENV``) on this project's state."""
        state = await self.deploy_state(env)
        container = self.deploy_container(
            [*argv, "--env", env],
            state=state,
            reports=reports,
            audit_key=audit_key,
            approved_by=approved_by,
        )
        return await self.outcome(container, command)

    @never_cached
    async def deploy(  # noqa: PLR0917 - the engine passes arguments by name
        self,
        env: DeployEnvName,
        reports: Annotated[
            dagger.Directory | None, Doc("The reports `ci` exported (its gate decision)")
        ] = None,
        version: Annotated[str | None, Doc("Release version (default: the project's)")] = None,
        strategy: Annotated[str | None, Doc("rolling, blue-green or canary")] = None,
        approved_by: Annotated[
            str | None, Doc("Who approved (a CI approval, e.g. a GitHub Environment reviewer)")
        ] = None,
        audit_key: AuditKey = None,
    ) -> dagger.Directory:
        """Deploy a release; returns the evidence and ``outcome.json`` (``verdict`` fails on
        a rolled-back or refused deploy). Refused for targets that would die with the exec.
        Never served from cache."""
        argv = ["pipelines", "deploy"]
        if version:
            argv += ["--version", version]
        if strategy:
            argv += ["--strategy", strategy]
        return await self.deploy_operation(
            "deploy", argv, env, audit_key=audit_key, reports=reports, approved_by=approved_by
        )

    @never_cached
    async def resume(self, env: DeployEnvName, audit_key: AuditKey = None) -> dagger.Directory:
        """Continue an interrupted deploy from its journal. Never served from cache."""
        argv = ["pipelines", "deploy", "--resume"]
        return await self.deploy_operation("resume", argv, env, audit_key=audit_key)

    @never_cached
    async def promote(
        self,
        env: DeployEnvName,
        reason: Reason = None,
        audit_key: AuditKey = None,
        full: Annotated[
            bool, Doc("Promote all the way: skip the remaining analyses, pauses and weights")
        ] = False,
    ) -> dagger.Directory:
        """Continue a paused deploy. Never served from cache."""
        argv = ["pipelines", "promote", *(["--reason", reason] if reason else [])]
        argv += ["--full"] if full else []
        return await self.deploy_operation("promote", argv, env, audit_key=audit_key)

    @never_cached
    async def abort(
        self, env: DeployEnvName, reason: Reason = None, audit_key: AuditKey = None
    ) -> dagger.Directory:
        """Stop a deploy in progress and return traffic to the stable release."""
        argv = ["pipelines", "abort", *(["--reason", reason] if reason else [])]
        return await self.deploy_operation("abort", argv, env, audit_key=audit_key)

    @never_cached
    async def rollback(
        self,
        env: Annotated[str, Doc("Environment to roll back")],
        reason: Annotated[str, Doc("Why (written to the audit log)")] = "rollback requested",
        audit_key: AuditKey = None,
    ) -> dagger.Directory:
        """Back to the last release that passed. Never served from cache."""
        argv = ["pipelines", "rollback", "--reason", reason]
        return await self.deploy_operation("rollback", argv, env, audit_key=audit_key)

    @never_cached
    async def status(self, env: DeployEnvName) -> str:
        """What runs in an environment and what happened last (JSON). Never cached."""
        state = await self.deploy_state(env)
        argv = ["pipelines", "status", "--env", env, "--json"]
        container = self.deploy_container(argv, state=state)
        return await container.stdout()

    @never_cached
    async def watch(
        self,
        env: DeployEnvName,
        window: Annotated[str, Doc("How long to watch (e.g. 2h)")] = "1h",
        every: Annotated[str, Doc("How often to check (e.g. 5m)")] = "5m",
        audit_key: AuditKey = None,
    ) -> dagger.Directory:
        """Health and smoke checks on a schedule after a deploy; rolls back on a failure."""
        argv = ["pipelines", "watch", "--for", window, "--every", every]
        return await self.deploy_operation("watch", argv, env, audit_key=audit_key)

    @never_cached
    async def rollback_drill(
        self,
        env: Annotated[str, Doc("Environment whose deploy settings are rehearsed")] = "staging",
        strategy: Annotated[str | None, Doc("rolling, blue-green or canary")] = None,
        fault: Annotated[str, Doc("errors, latency or crash (service.faults)")] = "errors",
        sla: Annotated[str, Doc("Detect + roll back within this (e.g. 15m)")] = "15m",
        audit_key: AuditKey = None,
    ) -> dagger.Directory:
        """A rollback drill inside the toolchain container (nginx and the service run in
        it): the same drill on any machine. Returns its report and evidence."""
        argv = ["pipelines", "drill", "rollback", "--env", env, "--fault", fault, "--sla", sla]
        if strategy:
            argv += ["--strategy", strategy]
        container = self.deploy_container(argv, state=DRILL_STATE, audit_key=audit_key)
        return await self.outcome(container, "rollback drill")
