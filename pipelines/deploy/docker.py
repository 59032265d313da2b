"""The ``docker`` runtime: each instance is a container of the service image on a Docker
engine, published on a loopback port.

``service.image`` names the image (``{version}`` is filled in); images stay in the engine, so
a rollback never rebuilds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.child_env import child_environment, masked, secret_values
from pipelines.deploy.instances import ContainerRecord, Records, free_port
from pipelines.deploy.local import fill, service_env
from pipelines.deploy.target import Release, Running, TargetError, http_ok, wait_healthy
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from pipelines.config.deploy import ServiceSettings
    from pipelines.deploy.registry import TargetContext


def _docker(
    argv: list[str], timeout: float = 60, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``docker ARGV``; ``env`` adds variables the CLI passes on by name (``-e NAME``)."""
    try:
        return subprocess.run(
            ["docker", *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, **env} if env else None,
        )
    except FileNotFoundError as exc:
        raise TargetError("docker is not installed (the docker runtime needs an engine)") from exc
    except subprocess.TimeoutExpired as exc:
        raise TargetError(f"docker {argv[0]} did not answer within {timeout:g} s") from exc


class DockerRuntime:
    """Containers of the service image, each published on a loopback port."""

    def __init__(
        self,
        *,
        home: Path,
        service: ServiceSettings,
        env: Mapping[str, str],
        image: str,
        prefix: str,
        pass_env: tuple[str, ...] = (),
    ) -> None:
        self.home, self.service, self.env = home, service, dict(env)
        self.pass_env = pass_env
        self.image, self.prefix = image, prefix
        self.records = Records(home / "instances", ContainerRecord)

    def start(self, instance: str, release: Release) -> Running:
        """``docker run`` the release's image and wait until it is healthy (a healthy one
        of the same release is kept)."""
        current = self.running().get(instance)
        healthy = current is not None and http_ok(current.url + self.service.health_path)
        if current is not None and current.release == release.id and healthy:
            return current
        self.stop(instance)
        port = free_port()
        self.records.directory.mkdir(parents=True, exist_ok=True)
        inside = self.service.container_port
        values = {"port": str(inside), "version": release.version, "instance": instance}
        # The engine restarts an instance that crashes (a few times: one that keeps crashing
        # stays down and fails its health check, which the deploy sees).
        argv = ["run", "-d", "--restart", "on-failure:3", "--name", f"{self.prefix}-{instance}"]
        argv += ["-p", f"127.0.0.1:{port}:{inside}"]
        declared = service_env(self.env, self.service, release, values, inside)
        # Every variable by name: the docker CLI takes the value from its own environment,
        # so none shows in a process listing (a value may come from the caller's, expanded).
        passed = child_environment(os.environ, pass_env=self.pass_env, container=True)
        for key in sorted({*passed, *declared}):
            argv += ["-e", key]
        argv.append(fill(self.image, values))  # the image's own command runs the service
        done = _docker(argv, env={**passed, **declared})
        if done.returncode != 0:
            raise TargetError(f"docker run of {instance} failed: {done.stderr.strip()}")
        container = done.stdout.strip()
        self.records.write(
            instance, ContainerRecord(release=release.id, port=port, container=container)
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(
                url + self.service.health_path,
                self.service.start_timeout,
                lambda: _alive(container),
                f"instance {instance}",
                lambda: _logs_tail(container, secret_values({**declared, **passed})),
            )
        except TargetError:
            self.stop(instance)
            raise
        return Running(instance, release.id, url)

    def stop(self, instance: str) -> None:
        """``docker rm -f`` the instance's container (by name too: a container whose record
        was never written is found by the name it was given)."""
        record = self.records.read(instance)
        if record is not None:
            _docker(["rm", "-f", "-v", record.container])
        _docker(["rm", "-f", "-v", f"{self.prefix}-{instance}"])
        self.records.remove(instance)

    def running(self) -> dict[str, Running]:
        """Every recorded container that runs."""
        return {
            name: Running(name, record.release, f"http://127.0.0.1:{record.port}")
            for name, record in self.records.all()
            if _alive(record.container)
        }

    def shutdown(self) -> None:
        """Remove every recorded container."""
        for name, _ in list(self.records.all()):
            self.stop(name)


def _logs_tail(container: str, secrets: tuple[str, ...]) -> str:
    """The end of a container's output (both streams), its secrets masked."""
    done = _docker(["logs", "--tail", "20", container])
    return masked(done.stdout + done.stderr, secrets)[-600:].strip() or "(empty log)"


def _alive(container: str) -> bool:
    done = _docker(["inspect", "-f", "{{.State.Running}}", container])
    return done.returncode == 0 and done.stdout.strip() == "true"


def runtime(context: TargetContext) -> DockerRuntime:
    """The registry's factory: the docker runtime needs the service's image."""
    if context.service.image is None:
        raise UsageError(
            f"{context.source}: the docker runtime needs service.image",
            hint="for example service: {image: 'my-service:{version}'}",
        )
    # Container names: the project (its state slug), the environment and the target.
    prefix = f"pp-{context.project_slug[:28]}-{context.env_name}-{context.name}"
    return DockerRuntime(
        home=context.home,
        service=context.service,
        env=context.env,
        image=context.service.image,
        prefix=prefix,
        pass_env=context.pass_env,
    )
