"""The ``docker`` target: each instance is a container of the service image on a Docker
engine, published on a loopback port, behind the same nginx as the local target.

``service.image`` names the image (``{version}`` is filled in); images stay in the engine, so
a rollback never rebuilds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pipelines.child_env import child_environment
from pipelines.deploy.local import Launched, LocalTarget, fill
from pipelines.deploy.settings import ServiceSettings
from pipelines.deploy.target import Release, Running, TargetError
from pipelines.errors import UsageError


def _docker(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["docker", *argv], capture_output=True, text=True, check=False, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise TargetError("docker is not installed (the docker target needs an engine)") from exc
    except subprocess.TimeoutExpired as exc:
        raise TargetError(f"docker {argv[0]} did not answer within {timeout:g} s") from exc


class DockerTarget(LocalTarget):
    """Containers behind nginx; everything but starting and stopping is the local target's."""

    def __init__(
        self,
        name: str,
        *,
        home: Path,
        listen: str,
        service: ServiceSettings,
        env: Mapping[str, str],
        pass_env: tuple[str, ...] = (),
    ) -> None:
        super().__init__(
            name, home=home, listen=listen, service=service, env=env, pass_env=pass_env
        )
        if service.image is None:
            raise UsageError(
                "the docker target needs service.image in pipeline.yaml",
                hint="for example service: {image: 'my-service:{version}'}",
            )
        self.image = service.image
        # Container names: the project (its state slug), the environment and the target.
        env_dir = home.parent.parent
        self.prefix = f"pp-{env_dir.parent.name[:28]}-{env_dir.name}-{name}"

    def _launch(self, instance: str, release: Release, port: int) -> Launched:
        """``docker run`` the release's image, published on ``port`` of the loopback."""
        inside = self.service.container_port
        values = {"port": str(inside), "version": release.version, "instance": instance}
        argv = ["run", "-d", "--name", f"{self.prefix}-{instance}"]
        argv += ["-p", f"127.0.0.1:{port}:{inside}"]
        for key, value in sorted(self.service_env(release, values, inside).items()):
            argv += ["-e", f"{key}={value}"]
        # Passed by name: the docker CLI takes the value from its own environment.
        passed = child_environment(os.environ, pass_env=self.pass_env, container=True)
        for key in sorted(set(passed) - set(self.service_env(release, values, inside))):
            argv += ["-e", key]
        argv.append(fill(self.image, values))  # the image's own command runs the service
        done = _docker(argv)
        if done.returncode != 0:
            raise TargetError(f"docker run of {instance} failed: {done.stderr.strip()}")
        container = done.stdout.strip()
        return Launched(
            {"container": container},
            lambda: self._alive(container),
            lambda: _docker(["logs", "--tail", "20", container]).stderr[-600:],
        )

    def _alive(self, container: str) -> bool:
        done = _docker(["inspect", "-f", "{{.State.Running}}", container])
        return done.returncode == 0 and done.stdout.strip() == "true"

    def stop(self, instance: str) -> None:
        """``docker rm -f`` the instance's container (by name too: a container whose record
        was never written is found by the name it was given)."""
        data = self._read(instance)
        if data is not None:
            _docker(["rm", "-f", "-v", str(data["container"])])
        _docker(["rm", "-f", "-v", f"{self.prefix}-{instance}"])
        self._record(instance).unlink(missing_ok=True)

    def running(self) -> dict[str, Running]:
        """Every recorded container that runs."""
        found: dict[str, Running] = {}
        if not self.instances.is_dir():
            return found
        for record in sorted(self.instances.glob("*.json")):
            data = self._read(record.stem)
            if data is None or "container" not in data:
                continue
            if self._alive(str(data["container"])):
                url = f"http://127.0.0.1:{data['port']}"
                found[record.stem] = Running(record.stem, str(data["release"]), url)
        return found
