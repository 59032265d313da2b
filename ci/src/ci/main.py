"""The Dagger module of portable-pipelines.

Thin on purpose: it builds the toolchain image from this SDK's own files, asks the SDK in that
image for the plan (``pipelines plan --json``), and runs each stage's argv lists with
``with_exec`` in a container of its own, concurrently where the DAG allows. Everything a stage
does lives in the SDK, so a stage behaves here exactly as on a laptop.

    dagger call ci -o reports              # the whole pipeline; exports every stage's reports
    dagger call verdict --reports=reports  # then fails when the gate closed or a stage failed
    dagger check                           # lint, security and test as checks
    dagger call toolchain terminal         # a shell in the stage image
    dagger call rollback-drill --env staging -o drill   # a timed rollback drill, in here
    dagger call verdict --reports=drill                 # fails when the drill failed
    dagger -m github.com/OWNER/REPO@vX.Y.Z call --source=. ci -o reports
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, cast

import dagger
from dagger import DefaultPath, Doc, Ignore, check, dag, function, object_type

from ci.plan_exec import PlanSpec, StageSpec, execute_plan, parse_plan

DEFAULT_BASE_IMAGE = "python:3.12-slim-bookworm"
WORKDIR = "/src"
TOOLCHAIN_DOCKERFILE = "containers/toolchain.Dockerfile"
EXTRA_CA_PATH = "containers/extra-ca/extra-ca.pem"
# DefaultPath does not honour .gitignore: keep what no stage should read out of the upload.
IGNORED = [
    ".git",
    ".venv",
    "venv",
    "**/.venv",
    "**/__pycache__",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/node_modules",
    "reports",
    "artifacts",
    "ci/sdk",
]
# Named caches shared by every stage container: downloads survive between runs.
CACHES = {
    "/root/.cache/pip": "portable-pipelines-pip",
    "/root/.cache/pip-audit": "portable-pipelines-pip-audit",
    # The projects' own environments (built by the install stage) and uv's downloads.
    "/cache": "portable-pipelines-cache",
}
# Every stage container: the caches above, and reports where this module collects them (a
# pipeline.yaml `reports:` setting is for the host, not for containers).
BASE_ENV = {
    "PIPELINES_CACHE_DIR": "/cache",
    "UV_CACHE_DIR": "/cache/uv",
    "PIPELINES_REPORTS_DIR": "/src/reports",
    # Every caller's project is /src here: environments are kept apart by their contents, and
    # never pruned as another checkout's older ones.
    "PIPELINES_SHARED_CACHE": "1",
}

SUMMARY = "pipeline.json"  # each stage's outcome, written beside the reports by `ci`
OUTCOME = "outcome.json"  # a deploy's, rollback's or drill's exit code and output
# Deploy state (journals, releases on disk) outlives each call in a named cache.
STATE_DIR = "/state"
STATE_CACHE = "portable-pipelines-deploy-state"
DOCKER_SOCKET = "/var/run/docker.sock"
NONCE = "PIPELINES_NONCE"
DAY = "PIPELINES_DAY"

F = TypeVar("F", bound=Callable[..., Any])
# Arguments the deploy functions share.
AuditKey = Annotated[dagger.Secret | None, Doc("Key that signs audit entries")]
DockerSocket = Annotated[dagger.Socket | None, Doc("Docker engine socket, for the docker target")]


def as_check(func: F) -> F:
    """Mark a function as a ``dagger check`` (dagger-io types its decorator as a union)."""
    return cast(F, check(func))


# dagger-io's overloads of `function` omit `cache`, which the implementation accepts.
_function_with_options = cast(Callable[..., Callable[[F], F]], function)


def never_cached(func: F) -> F:
    """A function with side effects or live answers: its result never comes from cache."""
    return _function_with_options(cache="never")(func)


def sdk_files() -> dagger.Directory:
    """This module's own context (its dagger.json ``include``), never the caller's project.

    ``source()`` is the module's context directory opened at its source subpath (``ci``);
    ``..`` is resolved inside that same snapshot, so it is the root of the SDK checkout at the
    module's version, whoever calls it (``dagger -m``, ``dagger install``, a toolchain).
    """
    return dag.current_module().source().directory("..")


def with_caches(container: dagger.Container) -> dagger.Container:
    """Mount the named tool caches."""
    for path, name in CACHES.items():
        container = container.with_mounted_cache(path, dag.cache_volume(name))
    return container.with_(with_env(BASE_ENV))


def with_env(env: Mapping[str, str]) -> Callable[[dagger.Container], dagger.Container]:
    """Set a stage's environment variables (sorted, so the cache key is stable)."""

    def apply(container: dagger.Container) -> dagger.Container:
        for name in sorted(env):
            container = container.with_env_variable(name, env[name])
        return container

    return apply


def fresh(freshness: str) -> Callable[[dagger.Container], dagger.Container]:
    """Make a live answer live: ``cache="never"`` re-runs only the function, and the engine
    serves a ``with_exec`` from its layer cache unless an input changes, so a stage whose
    answer changes without its inputs gets one that does (a nonce per call, or the day)."""

    def apply(container: dagger.Container) -> dagger.Container:
        if freshness == "never":
            return container.with_env_variable(NONCE, uuid.uuid4().hex)
        if freshness == "daily":
            return container.with_env_variable(DAY, datetime.now(UTC).date().isoformat())
        return container

    return apply


def judge(summary: Mapping[str, Any], decision: Mapping[str, Any] | None) -> str:
    """The verdict on an exported run: raise on a closed gate or a stage that did not pass."""
    if "exit_code" in summary:  # a deploy, rollback or drill (outcome.json)
        if summary["exit_code"] != 0:
            raise DeployFailedError(
                f"{summary['command']} failed (exit {summary['exit_code']}): "
                + summary.get("output", "")[-2000:]
            )
        return f"{summary['command']} succeeded"
    stages: Mapping[str, Any] = summary["stages"]
    if decision is not None:
        reasons = "; ".join(decision.get("reasons", [])) or "see gate/decision.json"
        raise GateClosedError(
            f"gate {decision.get('status', 'closed')} ({summary['env']}): {reasons}"
        )
    failed = [name for name, outcome in stages.items() if outcome["status"] != "passed"]
    if failed:
        raise StageFailedError("stages that did not pass: " + ", ".join(failed))
    return f"{len(stages)} stage(s) passed ({summary['env']})"


def failed_reports(error: dagger.ExecError) -> dagger.Directory:
    """What is left of a stage whose command the engine reports as failed: its exit code and
    the tail of its output, as the stage's log."""
    output = (error.stdout + "\n" + error.stderr).strip().splitlines()[-200:]
    text = f"exit code {error.exit_code}: {error.message}\n" + "\n".join(output) + "\n"
    return dag.directory().with_new_file("log.txt", text)


@object_type
class Ci:
    """Run a portable-pipelines pipeline: every stage of the plan in its own container."""

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
        """The toolchain with the caches and the project at /src."""
        return (
            self.build_toolchain()
            .with_(with_caches)
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
        """A stage's container: its needs' reports in place, then its commands.

        With ``last_may_fail``, the last command's failure is read from its exit code rather
        than failing the query (the gate must see failed tests).
        """
        container = self.workspace().with_(with_env(stage.env)).with_(fresh(stage.freshness))
        for need, reports in sorted(needed_reports.items()):
            container = container.with_directory(f"{WORKDIR}/reports/{need}", reports)
        for index, argv in enumerate(stage.run):
            last = index == len(stage.run) - 1
            expect = dagger.ReturnType.ANY if last and last_may_fail else None
            if expect is None:
                container = container.with_exec(list(argv))
            else:
                container = container.with_exec(list(argv), expect=expect)
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

    @function
    @as_check
    async def lint(self, env: Annotated[str, Doc("Environment of the plan")] = "ci") -> str:
        """The lint stage (ruff, ruff format, mypy when configured)."""
        return await self.run_one("lint", env)

    @function
    @as_check
    async def security(self, env: Annotated[str, Doc("Environment of the plan")] = "ci") -> str:
        """The security stage (bandit, detect-secrets, pip-audit)."""
        return await self.run_one("security", env)

    @function
    @as_check
    async def test(self, env: Annotated[str, Doc("Environment of the plan")] = "ci") -> str:
        """The test stage (pytest with JUnit, coverage, reruns and a report log)."""
        return await self.run_one("test", env)

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

    @function
    async def ci(
        self,
        env: Annotated[str, Doc("Environment whose gate thresholds apply")] = "ci",
        config: Annotated[
            str | None, Doc("Pipeline file inside the project (default: pipeline.yaml)")
        ] = None,
    ) -> dagger.Directory:
        """The whole pipeline; returns every stage's reports and ``pipeline.json`` (each
        stage's outcome), whatever the outcome, so they can be exported exactly when they
        matter. ``verdict`` then fails on a closed gate or a failed stage."""
        plan = await self.plan(env, config)
        outcomes = await execute_plan(plan, self.run_stage)
        collected = dag.directory()
        summary: dict[str, Any] = {"env": env, "stages": {}, "skipped": plan.skipped}
        for name, outcome in outcomes.items():
            summary["stages"][name] = {"status": outcome.status, "exit_code": outcome.exit_code}
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

    @never_cached
    async def health(self, env: Annotated[str, Doc("Environment whose checks run")] = "ci") -> str:
        """Run the environment's health checks from the toolchain (never cached)."""
        container = self.workspace().with_(fresh("never"))
        return await container.with_exec(["pipelines", "health", "--env", env]).stdout()

    def deploy_container(
        self,
        argv: list[str],
        *,
        reports: dagger.Directory | None,
        audit_key: dagger.Secret | None,
        docker_socket: dagger.Socket | None,
        approved_by: str | None,
    ) -> dagger.Container:
        """The toolchain with the deploy state, the secrets and a nonce, then ``argv``."""
        container = (
            self.workspace()
            .with_mounted_cache(STATE_DIR, dag.cache_volume(STATE_CACHE))
            .with_env_variable("PIPELINES_STATE_DIR", STATE_DIR)
        )
        if reports is not None:  # the `ci` run's reports hold the gate decision
            container = container.with_directory(f"{WORKDIR}/reports", reports)
        if audit_key is not None:
            container = container.with_secret_variable("PIPELINES_AUDIT_KEY", audit_key)
        if docker_socket is not None:
            container = container.with_unix_socket(DOCKER_SOCKET, docker_socket)
        if approved_by:
            container = container.with_env_variable("PIPELINES_APPROVED_BY", approved_by)
        # Never from cache: a deploy acts on the world, so every call must really run.
        return container.with_(fresh("never")).with_exec(argv, expect=dagger.ReturnType.ANY)

    async def outcome(self, container: dagger.Container, command: str) -> dagger.Directory:
        """The artifacts a command left, with its exit code and output (``outcome.json``)."""
        code = await container.exit_code()
        output = (await container.stdout()) + (await container.stderr())
        summary = {"command": command, "exit_code": code, "output": output[-20000:]}
        artifacts = container.directory(f"{WORKDIR}/artifacts")
        return artifacts.with_new_file(OUTCOME, json.dumps(summary, indent=2))

    @never_cached
    async def deploy(  # noqa: PLR0917 - the engine passes arguments by name
        self,
        env: Annotated[str, Doc("Environment to deploy to")],
        reports: Annotated[
            dagger.Directory | None, Doc("The reports `ci` exported (its gate decision)")
        ] = None,
        version: Annotated[str | None, Doc("Release version (default: the project's)")] = None,
        strategy: Annotated[str | None, Doc("rolling, blue-green or canary")] = None,
        approved_by: Annotated[
            str | None, Doc("Who approved (a CI approval, e.g. a GitHub Environment reviewer)")
        ] = None,
        audit_key: AuditKey = None,
        docker_socket: DockerSocket = None,
    ) -> dagger.Directory:
        """Deploy a release; returns the evidence and ``outcome.json`` (``verdict`` fails on
        a rolled-back or refused deploy). Never served from cache."""
        argv = ["pipelines", "deploy", "--env", env]
        if version:
            argv += ["--version", version]
        if strategy:
            argv += ["--strategy", strategy]
        container = self.deploy_container(
            argv,
            reports=reports,
            audit_key=audit_key,
            docker_socket=docker_socket,
            approved_by=approved_by,
        )
        return await self.outcome(container, "deploy")

    @never_cached
    async def rollback(
        self,
        env: Annotated[str, Doc("Environment to roll back")],
        reason: Annotated[str, Doc("Why (written to the audit log)")] = "rollback requested",
        audit_key: AuditKey = None,
        docker_socket: DockerSocket = None,
    ) -> dagger.Directory:
        """Back to the last release that passed. Never served from cache."""
        container = self.deploy_container(
            ["pipelines", "rollback", "--env", env, "--reason", reason],
            reports=None,
            audit_key=audit_key,
            docker_socket=docker_socket,
            approved_by=None,
        )
        return await self.outcome(container, "rollback")

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
        container = self.deploy_container(
            argv, reports=None, audit_key=audit_key, docker_socket=None, approved_by=None
        )
        return await self.outcome(container, "rollback drill")


class DeployFailedError(Exception):
    """A deploy was rolled back or refused, or a drill failed."""


class GateClosedError(Exception):
    """The gate decided that the deploy may not proceed."""


class StageFailedError(Exception):
    """A stage failed although the gate did not say so (the gate may be disabled)."""
