"""The Docker runner: each stage in its own container of the toolchain image.

The project is mounted read-only at /src, the reports directory read-only at /reports and only
the stage's own ``reports/<stage>/`` in it writable, so a stage cannot change the source or
another stage's reports. Stages run in the
same DAG order and parallelism as on the host, and leave the same reports behind.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipelines import containment
from pipelines.child_env import SDK_SECRETS, Masker, child_environment, secret_values
from pipelines.errors import ToolError, UsageError
from pipelines.layout import REPORTS, REPORTS_ENV, Layout
from pipelines.plan import Plan, PlannedStage
from pipelines.process import run_tool
from pipelines.project.environment import PROJECT_ID, PROJECT_NAME, PROJECT_PATH
from pipelines.runners.base import (
    OnEvent,
    default_parallelism,
    run_plan,
    stage_executor,
)
from pipelines.runners.commands import Command
from pipelines.runners.results import RunResult
from pipelines.toolchain import DOCKERFILE, ToolchainSpec, build_context, image_tag

WORKDIR = "/src"
REPORTS_MOUNT = "/reports"
# One named volume keeps the project environments and the installers' downloads between
# containers and runs (the install stage builds there, the other stages use it).
CACHE_VOLUME = "portable-pipelines-cache"
CACHE_DIR = "/cache"
BUILD_LOG = "toolchain-build.log"
CACHE_ENV = {
    "PIPELINES_CACHE_DIR": CACHE_DIR,
    "UV_CACHE_DIR": f"{CACHE_DIR}/uv",
    "PIP_CACHE_DIR": f"{CACHE_DIR}/pip",
}


def docker_run_argv(
    stage: PlannedStage,
    argv: tuple[str, ...],
    *,
    image: str,
    project: Path,
    name: str,
    user: str | None,
    reports: Path | None = None,
    passed: Iterable[str] = (),
) -> list[str]:
    """The ``docker run`` command for one of a stage's commands.

    Environment values are not in the argv (``-e NAME`` takes them from the docker CLI's own
    environment), so they never show in a process listing.
    """
    command = ["docker", "run", "--rm", "--init", "--name", name]
    if user:
        command += ["--user", user]
    # Build backends write metadata into the tree (egg-info): only such stages get it writable.
    access = "rw" if stage.source == "read-write" else "ro"
    reports = reports or project / REPORTS
    command += ["--volume", f"{project}:{WORKDIR}:{access}"]
    if access == "rw" and os.path.lexists(project / ".git"):
        # The host runs git in the checkout: its config and hooks name commands git runs
        # there (core.fsmonitor, a hook), so no stage may write them.
        command += ["--volume", f"{project / '.git'}:{WORKDIR}/.git:ro"]
    command += [
        # Every stage's reports to read (the gate's evidence), its own to write. Outside /src:
        # a mount point cannot be made inside a read-only source that has no reports/ (a
        # fresh checkout with --reports elsewhere); the runner made the stage's directory.
        "--volume",
        f"{reports}:{REPORTS_MOUNT}:ro",
        "--volume",
        f"{reports / stage.name}:{REPORTS_MOUNT}/{stage.name}",
        "--volume",
        f"{CACHE_VOLUME}:{CACHE_DIR}",
        "--workdir",
        WORKDIR,
        "--env",
        "HOME=/tmp",
    ]
    # Inside, reports are always at /reports (where the host's directory is mounted), and
    # the project's environment is named after the host checkout (every project is /src).
    identity = {
        REPORTS_ENV: REPORTS_MOUNT,
        PROJECT_ID: hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:8],
        PROJECT_NAME: project.resolve().name,
        PROJECT_PATH: WORKDIR,
    }
    for key, value in sorted({**CACHE_ENV, **identity}.items()):
        command += ["--env", f"{key}={value}"]
    if "--config" in argv:
        config = argv[argv.index("--config") + 1]
        if config.startswith("/"):
            # A pipeline file outside the project reaches the stage at the same path.
            command += ["--volume", f"{config}:{config}:ro"]
    # The stage's declared environment (child_env): pipeline.yaml's values and what it passes.
    # Those the runner sets itself stay the container's own.
    for key in sorted({*stage.env, *passed} - {*CACHE_ENV, *identity, "HOME"}):
        command += ["--env", key]
    return [*command, image, *argv]


class DockerRunner:
    """Runs every stage in a container of the toolchain image built from this SDK."""

    name = "docker"

    def __init__(
        self,
        project: Path,
        *,
        layout: Layout | None = None,
        environ: Mapping[str, str] | None = None,
        max_parallel: int | None = None,
    ) -> None:
        self.project = project
        self.environ = dict(os.environ if environ is None else environ)
        self.layout = layout or Layout.of(project, self.environ)
        self.max_parallel = max_parallel or default_parallelism()
        self.run_id = secrets.token_hex(4)
        self.image = ""
        # Reports written as the invoking user, so they can be removed without root.
        self.user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None

    def run(
        self, plan: Plan, *, fail_fast: bool = False, on_event: OnEvent | None = None
    ) -> RunResult:
        """Check the engine, build or reuse the toolchain image, then run the plan."""
        check_engine(self.environ)
        spec = ToolchainSpec.from_env(self.environ)
        self.image = ensure_toolchain(spec, self.layout, self.environ)
        return run_plan(
            self.name,
            self.layout,
            plan,
            stage_executor(self._command, self.project),
            fail_fast=fail_fast,
            on_event=on_event,
            max_parallel=self.max_parallel,
        )

    def _command(self, stage: PlannedStage, argv: tuple[str, ...], index: int) -> Command:
        name = f"pipelines-{self.run_id}-{stage.name}-{index}"
        child = child_environment(
            self.environ, pass_env=stage.pass_env, declared=stage.env, container=True
        )
        # The docker CLI needs ours (DOCKER_HOST, ...); the container gets only the names given.
        cli_env = {k: v for k, v in self.environ.items() if k not in SDK_SECRETS}
        return Command(
            docker_run_argv(
                stage,
                argv,
                image=self.image,
                project=self.project,
                name=name,
                user=self.user,
                reports=self.layout.reports,
                passed=child,
            ),
            {**cli_env, **child},
            # Killing the docker CLI leaves the container running: remove it too.
            cleanup=("docker", "rm", "--force", name),
            # What the local runner says for a command that is not there.
            missing=f"{argv[0]}: not found in the toolchain image",
            secrets=secret_values(child),
        )


# Written by containers/toolchain.Dockerfile when the image is built.
PYTHON_VERSION_FILE = "/etc/pipelines-python-version"


def toolchain_python(image: str, environ: Mapping[str, str]) -> str:
    """The version of the Python every stage runs with in ``image`` (``3.11.2``)."""
    done = run_tool(
        ["docker", "run", "--rm", "--entrypoint", "cat", image, PYTHON_VERSION_FILE],
        cwd=Path.cwd(),
        env=dict(environ),
        timeout=120,
    )
    version = done.stdout.strip()
    if done.returncode != 0 or not version:
        raise ToolError(
            f"{image}: cannot read its Python version ({PYTHON_VERSION_FILE}): {done.last_line()}",
            hint="remove the image (docker image rm) so the next run builds it again",
        )
    return version


def describe_toolchain(layout: Layout, environ: Mapping[str, str]) -> tuple[str, str]:
    """The toolchain image stages would run in (built now unless it exists) and its Python."""
    check_engine(environ)
    image = ensure_toolchain(ToolchainSpec.from_env(environ), layout, environ)
    return image, toolchain_python(image, environ)


def check_engine(environ: Mapping[str, str]) -> None:
    """Fail with a usage error (exit 2) when no Docker engine answers."""
    try:
        done = run_tool(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            cwd=Path.cwd(),
            env=dict(environ),
            timeout=30,
        )
    except ToolError as exc:
        raise UsageError(
            f"the Docker runner needs Docker: {exc.message}",
            hint="install Docker, or use --runner local",
        ) from exc
    if done.returncode != 0:
        raise UsageError(
            f"no Docker engine is reachable: {done.last_line()}",
            hint="start the Docker daemon (or check DOCKER_HOST), or use --runner local",
        )


def ensure_toolchain(spec: ToolchainSpec, layout: Layout, environ: Mapping[str, str]) -> str:
    """Build the toolchain image unless an image of the same contents exists; return its tag."""
    with build_context(spec) as context:
        tag = image_tag(context, spec.base_image)
        project = layout.project
        exists = run_tool(["docker", "image", "inspect", tag], cwd=project, env=dict(environ))
        if exists.returncode == 0:
            return tag
        log = layout.reports / BUILD_LOG
        done = run_tool(
            [
                "docker",
                "build",
                "--file",
                str(context / DOCKERFILE),
                "--build-arg",
                f"BASE_IMAGE={spec.base_image}",
                "--tag",
                tag,
                str(context),
            ],
            cwd=project,
            env=dict(environ),
        )
        # Any secret-looking value of ours is masked (a proxy or index URL may carry one);
        # written where no link a stage left can redirect it.
        masker = Masker(secret_values(environ))
        with containment.write_new(layout.reports, BUILD_LOG) as handle:
            handle.write(masker.feed((done.stdout + done.stderr).encode()) + masker.flush())
        if done.returncode != 0:
            last = masker.feed(done.last_line().encode()) + masker.flush()
            raise ToolError(
                f"building the toolchain image failed: {last.decode(errors='replace')}",
                hint=build_failure_hint(done.stdout + done.stderr, spec, log),
            )
        return tag


# What pip and apt print when a proxy or firewall re-signs TLS with a CA the image lacks.
UNTRUSTED_TLS = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed")


def build_failure_hint(output: str, spec: ToolchainSpec, log: Path) -> str:
    """Where the build output is, and the setting to change when the image did not trust
    the network's TLS certificates."""
    where = f"the whole build output is in {log}"
    if spec.ca_bundle is None and any(marker in output for marker in UNTRUSTED_TLS):
        return (
            "the image does not trust this network's TLS certificates: set "
            f"PIPELINES_CA_BUNDLE to a PEM file of its CA (docs/runners.md); {where}"
        )
    return where
