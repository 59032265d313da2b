"""The Dagger module of portable-pipelines.

Thin on purpose: it builds the toolchain image from this SDK's own files, asks the SDK in that
image for the plan (``pipelines plan --json``), and runs each stage's argv lists with
``with_exec`` in a container of its own, concurrently where the DAG allows. Everything a stage
does lives in the SDK, so a stage behaves here exactly as on a laptop.

    dagger call ci -o reports              # the whole pipeline; exports every stage's reports
    dagger call verdict --reports=reports  # then fails when the gate closed or a stage failed
    dagger check                           # lint, security and test as checks
    dagger call toolchain terminal         # a shell in the stage image
    dagger call ci --stages=lint --stages=test --fail-fast -o reports
    dagger call stage --name=test terminal # a shell where the test stage ran
    dagger call annotations --reports=reports   # GitHub annotations of an exported run
    dagger call rollback-drill --env staging -o drill   # a timed rollback drill, in here
    dagger call verdict --reports=drill                 # fails when the drill failed
    dagger -m github.com/OWNER/REPO@vX.Y.Z call --source=. --commit=SHA ci -o reports
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import dagger
from dagger import DefaultPath, Doc, Ignore, dag, function, object_type

from ci.containers import (
    IGNORED,
    WORKDIR,
    check_secret_names,
    fresh,
    timed,
    with_caches,
    with_commit,
    with_env,
    with_secrets,
)
from ci.deploys import DeployFunctions
from ci.functions import Env, as_check, never_cached, per_session
from ci.plan_exec import PlanSpec, StageSpec, execute_plan, parse_plan, select
from ci.verdicts import OUTCOME, SUMMARY, failed_reports, judge

DEFAULT_BASE_IMAGE = "python:3.12-slim-bookworm"
TOOLCHAIN_DOCKERFILE = "containers/toolchain.Dockerfile"
EXTRA_CA_PATH = "containers/extra-ca/extra-ca.pem"


def sdk_files() -> dagger.Directory:
    """This module's own context (its dagger.json ``include``), never the caller's project.

    ``source()`` is the module's context directory opened at its source subpath (``ci``);
    ``..`` is resolved inside that same snapshot, so it is the root of the SDK checkout at the
    module's version, whoever calls it (``dagger -m``, ``dagger install``, a toolchain).
    """
    return dag.current_module().source().directory("..")


@object_type
class Ci(DeployFunctions):
    """Run a portable-pipelines pipeline: every stage of the plan in its own container.

    The deploy-side functions (deploy, rollback, drills, ...) are in ``ci.deploys``.
    """

    source: Annotated[
        dagger.Directory,
        DefaultPath("/"),
        Ignore(IGNORED),
        Doc("The project to run the pipeline on (default: the caller's directory)"),
    ]
    base_image: Annotated[
        str, Doc("Base image of the toolchain: a Debian-based image with Python >= 3.11")
    ] = DEFAULT_BASE_IMAGE
    ca_bundle: Annotated[
        dagger.File | None,
        Doc("Extra CA certificates (PEM) to trust in every container, for TLS interception"),
    ] = None
    commit: Annotated[
        str | None,
        Doc("The commit under test, recorded in manifests and gate decisions (e.g. $GITHUB_SHA)"),
    ] = None
    project: Annotated[
        str | None,
        Doc(
            "A name unique to this project on the engine (e.g. OWNER/REPO): keeps its deploy "
            "state and audit log apart from other projects' (default: the pipeline's name)"
        ),
    ] = None
    kubeconfig: Annotated[
        dagger.Secret | None,
        Doc("kubeconfig of the cluster a kubernetes target deploys to (mounted as a secret file)"),
    ] = None
    secret_names: Annotated[
        list[str] | None,
        Doc("Environment variable names of --secrets in every stage, in the same order"),
    ] = None
    secrets: Annotated[
        list[dagger.Secret] | None,
        Doc("Secrets every stage gets as environment variables (named by --secret-names)"),
    ] = None

    @function
    def toolchain(self) -> dagger.Container:
        """The image every stage runs in, built from this SDK's own files."""
        return self.build_toolchain()

    def build_toolchain(self) -> dagger.Container:
        """What ``toolchain`` returns (callable from other functions with its real type)."""
        context = sdk_files()
        if self.ca_bundle is not None:
            context = context.with_file(EXTRA_CA_PATH, self.ca_bundle)
        return context.docker_build(
            dockerfile=TOOLCHAIN_DOCKERFILE,
            build_args=[dagger.BuildArg(name="BASE_IMAGE", value=self.base_image)],
        )

    def workspace(self) -> dagger.Container:
        """The toolchain with the caches, the commit and the project at /src."""
        return (
            self.build_toolchain()
            .with_(with_caches)
            .with_(with_commit(self.commit))
            .with_directory(WORKDIR, self.source)
            .with_workdir(WORKDIR)
        )

    def stage_container(
        self,
        stage: StageSpec,
        needed_reports: Mapping[str, dagger.Directory],
        *,
        last_may_fail: bool = True,
    ) -> dagger.Container:
        """A stage's container: its needs' reports in place, its own reports directory (so
        a stage that writes none still exports one), then its commands, each bounded by the
        stage's timeout.

        With ``last_may_fail``, the last command's failure is read from its exit code rather
        than failing the query (the gate must see failed tests).
        """
        names, secrets = self.secret_names or [], self.secrets or []
        check_secret_names(names, len(secrets))
        container = (
            self.workspace()
            .with_(with_env(stage.env))
            .with_(with_secrets(names, secrets))
            .with_(fresh(stage.freshness))
        )
        for need, reports in sorted(needed_reports.items()):
            container = container.with_directory(f"{WORKDIR}/reports/{need}", reports)
        container = container.with_directory(f"{WORKDIR}/reports/{stage.name}", dag.directory())
        for index, argv in enumerate(stage.run):
            last = index == len(stage.run) - 1
            command = timed(argv, stage.timeout)
            if last and last_may_fail:
                container = container.with_exec(command, expect=dagger.ReturnType.ANY)
            else:
                container = container.with_exec(command)
        return container

    async def plan(self, env: str, config: str | None = None) -> PlanSpec:
        """The plan, as the SDK in the toolchain computes it from the project's pipeline.yaml
        (or ``config``, a path inside the project, which then reaches every stage's argv)."""
        argv = ["pipelines", "plan", "--env", env, "--json"]
        if config:
            argv += ["--config", config]
        printed = await self.workspace().with_exec(argv).stdout()
        return parse_plan(printed)

    async def run_one(self, name: str, env: str) -> str:
        """Run a single stage; its failure fails the call, with the stage's output."""
        stage = (await self.plan(env)).stage(name)
        return await self.stage_container(stage, {}, last_may_fail=False).stdout()

    @per_session
    @as_check
    async def lint(self, env: Env = "ci") -> str:
        """The lint stage (ruff, ruff format, mypy when configured)."""
        return await self.run_one("lint", env)

    @per_session
    @as_check
    async def security(self, env: Env = "ci") -> str:
        """The security stage (bandit, detect-secrets, pip-audit)."""
        return await self.run_one("security", env)

    @per_session
    @as_check
    async def test(self, env: Env = "ci") -> str:
        """The test stage (pytest with JUnit, coverage, reruns and a report log)."""
        return await self.run_one("test", env)

    @function
    async def stage(
        self,
        name: Annotated[str, Doc("The stage (lint, security, test, ... as the plan names it)")],
        env: Env = "ci",
    ) -> dagger.Container:
        """One stage's container, its commands run (``... stage --name=lint terminal`` opens
        a shell where the stage ran; a failed command does not hide the container)."""
        stage = (await self.plan(env)).stage(name)
        return self.stage_container(stage, {})

    async def run_stage(
        self, stage: StageSpec, needed: Mapping[str, dagger.Directory]
    ) -> tuple[int, dagger.Directory]:
        """One stage of ``ci``: its exit code and its reports. A command killed or out of
        memory (exit 128-191, outside ReturnType.ANY) fails this stage, not the whole run."""
        try:
            container = await self.stage_container(stage, needed).sync()
        except dagger.ExecError as exc:
            return exc.exit_code, failed_reports(exc)
        reports = container.directory(f"{WORKDIR}/reports/{stage.name}")
        return await container.exit_code(), reports

    @per_session
    async def ci(
        self,
        env: Annotated[str, Doc("Environment whose gate thresholds apply")] = "ci",
        config: Annotated[
            str | None, Doc("Pipeline file inside the project (default: pipeline.yaml)")
        ] = None,
        stages: Annotated[
            list[str] | None,
            Doc("Only these stages (their needs outside the list count as met)"),
        ] = None,
        fail_fast: Annotated[
            bool, Doc("Skip the stages not yet started once one has failed")
        ] = False,
    ) -> dagger.Directory:
        """The whole pipeline; returns every stage's reports and ``pipeline.json`` (each
        stage's outcome), whatever the outcome, so they can be exported exactly when they
        matter. ``verdict`` then fails on a closed gate or a failed stage."""
        plan = select(await self.plan(env, config), stages or [])
        outcomes = await execute_plan(plan, self.run_stage, fail_fast=fail_fast)
        collected = dag.directory()
        summary: dict[str, Any] = {"env": env, "stages": {}, "skipped": plan.skipped}
        for name, outcome in outcomes.items():
            summary["stages"][name] = {
                "status": outcome.status,
                "exit_code": outcome.exit_code,
                "message": outcome.message,
            }
            if outcome.reports is not None:
                collected = collected.with_directory(name, outcome.reports)
        return collected.with_new_file(SUMMARY, json.dumps(summary, indent=2))

    @function
    async def verdict(
        self, reports: Annotated[dagger.Directory, Doc("The reports directory `ci` exported")]
    ) -> str:
        """Fail when the gate closed or a stage did not pass; otherwise say so."""
        names = await reports.entries()
        if OUTCOME in names:
            return judge(json.loads(await reports.file(OUTCOME).contents()), None)
        summary = json.loads(await reports.file(SUMMARY).contents())
        decision = None
        if summary["stages"].get("gate", {}).get("status") == "failed":
            decision = json.loads(await reports.file("gate/decision.json").contents())
        return judge(summary, decision)

    def reports_container(self, reports: dagger.Directory) -> dagger.Container:
        """The toolchain with an exported reports directory in place, for the renderers."""
        return self.workspace().with_directory(f"{WORKDIR}/reports", reports)

    @function
    async def annotations(
        self,
        reports: Annotated[dagger.Directory, Doc("The reports directory `ci` exported")],
    ) -> str:
        """GitHub workflow commands for the failing tests, findings and gate reasons of an
        exported run (print them in a GitHub Actions step: ``dagger call annotations``);
        every other line of the output is kept from starting a workflow command."""
        argv = ["pipelines", "report", "github"]
        return await self.reports_container(reports).with_exec(argv).stdout()

    @function
    async def summary(
        self,
        reports: Annotated[dagger.Directory, Doc("The reports directory `ci` exported")],
    ) -> str:
        """The run's Markdown summary, for ``$GITHUB_STEP_SUMMARY`` or a merge request."""
        argv = ["pipelines", "report", "github", "--summary"]
        return await self.reports_container(reports).with_exec(argv).stdout()

    @never_cached
    async def health(self, env: Annotated[str, Doc("Environment whose checks run")] = "ci") -> str:
        """Run the environment's health checks from the toolchain (never cached)."""
        container = self.workspace().with_(fresh("never"))
        return await container.with_exec(["pipelines", "health", "--env", env]).stdout()
