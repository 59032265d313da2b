"""The ``local`` runtime: each instance is a host process on a loopback port.

Instances run in their own session, so they outlive the controller: a controller killed
mid-deploy leaves the stable release serving. Each instance's pid and port are recorded
under ``instances/`` the moment it starts, so a resumed deploy or a rollback finds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.child_env import child_environment, masked, secret_values
from pipelines.deploy.instances import ProcessRecord, Records, free_port
from pipelines.deploy.processes import (
    MARKER,
    alive,
    is_instance,
    marked_processes,
    marker_of,
    start_time,
    terminate,
)
from pipelines.deploy.target import Release, Running, TargetError, http_ok, wait_healthy
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from pipelines.config.deploy import ServiceSettings
    from pipelines.deploy.registry import TargetContext

__all__ = ["MARKER", "LocalRuntime", "free_port", "marked_processes", "runtime"]

# An instance log past this many bytes is rotated when the instance (re)starts.
LOG_LIMIT = 10 * 1024 * 1024


class _Detached(subprocess.Popen[bytes]):
    """A process meant to outlive this object (and this controller): it is tracked by pid
    in its record file and reaped by ``_alive``, so dropping the object is no leak."""

    def __del__(self) -> None:
        pass


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` placeholders (and only those named in ``values``)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


class LocalRuntime:
    """Host processes, each from its release's snapshot."""

    def __init__(
        self,
        *,
        home: Path,
        service: ServiceSettings,
        env: Mapping[str, str],
        python: str | None = None,
        pass_env: tuple[str, ...] = (),
    ) -> None:
        self.home, self.service = home, service
        self.env = dict(env)
        self.pass_env = pass_env
        self.python = python or sys.executable
        self.records = Records(home / "instances", ProcessRecord)

    def start(self, instance: str, release: Release) -> Running:
        """Start the instance and wait until it is healthy (a healthy one is kept)."""
        current = self.running().get(instance)
        same = current is not None and current.release == release.id
        if current is not None and same and http_ok(current.url + self.service.health_path):
            return current
        self.stop(instance)
        port = free_port()
        self.records.directory.mkdir(parents=True, exist_ok=True)
        pid, argv, log = self._launch(instance, release, port)
        # What the instance was passed under a secret-looking name never reaches a message.
        hidden = secret_values(self.instance_env(instance, release, port))
        # Recorded the moment it exists: a controller that dies now still leaves its pid,
        # with its start time, so a pid reused later by another process is never taken for it.
        self.records.write(
            instance,
            ProcessRecord(
                release=release.id, port=port, pid=pid, argv=argv, started=start_time(pid)
            ),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(
                url + self.service.health_path,
                self.service.start_timeout,
                lambda: alive(pid),
                f"instance {instance}",
                lambda: _tail(log, secrets=hidden),
            )
        except TargetError:
            self.stop(instance)
            raise
        return Running(instance, release.id, url)

    def service_env(self, release: Release, values: Mapping[str, str], port: int) -> dict[str, str]:
        """The instance's variables: the environment's, the service's, the release's."""
        return service_env(self.env, self.service, release, values, port)

    def instance_env(self, instance: str, release: Release, port: int) -> dict[str, str]:
        """The declared child environment of an instance, never all of the caller's
        (docs/environment.md)."""
        values = {"port": str(port), "version": release.version, "instance": instance}
        env = child_environment(
            os.environ, pass_env=self.pass_env, declared=self.service_env(release, values, port)
        )
        env[MARKER] = self.marker(instance)
        env.pop("PYTHONPATH", None)  # the release runs its own code, not the caller's
        return env

    def _launch(self, instance: str, release: Release, port: int) -> tuple[int, list[str], Path]:
        """A host process from the release's snapshot, in a session of its own."""
        values = {"port": str(port), "version": release.version, "instance": instance}
        argv = [fill(part, values) for part in self.service.command or ()]
        if argv[0] in ("python", "python3"):
            argv[0] = self.python
        env = self.instance_env(instance, release, port)
        log = self.records.directory / f"{instance}.log"
        _rotate(log)
        # The instance writes what it likes there (its secrets too): for the owner's eyes.
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "ab") as output:
            process = _Detached(  # argv from pipeline.yaml, no shell
                argv,
                cwd=release.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return process.pid, argv, log

    def marker(self, instance: str) -> str:
        """The value of MARKER in an instance's environment: how an instance whose record
        was never written (its controller killed in between) is still found."""
        return f"{self.home}/{instance}"

    def _is_recorded(self, instance: str, record: ProcessRecord) -> bool:
        return is_instance(record.pid, self.marker(instance), record.started)

    def stop(self, instance: str) -> None:
        """SIGTERM its process group, then SIGKILL after 5 s; forget the instance. Only
        processes that carry its marker are signalled: the recorded one (when it is still
        the process the record names), its children, and unrecorded twins left by a
        controller killed between starting it and recording it."""
        record = self.records.read(instance)
        # The marker is exact: r1-1 never matches r1-10.
        pids = {pid for pid in marked_processes(self.marker(instance)) if
                marker_of(pid) == self.marker(instance)}  # fmt: skip
        if record is not None and self._is_recorded(instance, record):
            pids.add(record.pid)
        terminate(pids)
        self.records.remove(instance)
        # A stopped instance's logs go with it (a failed start already quoted their end).
        for log in (f"{instance}.log", f"{instance}.log.1"):
            (self.records.directory / log).unlink(missing_ok=True)

    def running(self) -> dict[str, Running]:
        """Every recorded instance whose process is alive and still the one recorded; a
        record whose process is gone (or whose pid now names another process) is stale and
        removed."""
        found: dict[str, Running] = {}
        for name, record in list(self.records.all()):
            if self._is_recorded(name, record):
                found[name] = Running(name, record.release, f"http://127.0.0.1:{record.port}")
            elif not marked_processes(self.marker(name)):
                self.records.remove(name)
        return found

    def shutdown(self) -> None:
        """Stop every instance, recorded or not."""
        for name in list(self.running()):
            self.stop(name)
        terminate(marked_processes(f"{self.home}/"), grace=0.0)


def service_env(
    env: Mapping[str, str],
    service: ServiceSettings,
    release: Release,
    values: Mapping[str, str],
    port: int,
) -> dict[str, str]:
    """An instance's variables: the environment's, the service's, the release's."""
    filled = {key: fill(value, values) for key, value in service.env.items()}
    return {**env, **filled, **release.env, "PORT": str(port)}


def runtime(context: TargetContext) -> LocalRuntime:
    """The registry's factory: the local runtime needs the command that starts one instance."""
    if context.service.command is None:
        raise UsageError(
            f"{context.source}: service.command is not set; the local runtime runs each "
            "instance with it",
            hint="declare how one instance starts, for example service: {command: "
            "[python, -m, myapp, --port, '{port}']}",
        )
    return LocalRuntime(
        home=context.home,
        service=context.service,
        env=context.env,
        python=context.python,
        pass_env=context.pass_env,
    )


def _tail(log: Path, limit: int = 600, secrets: tuple[str, ...] = ()) -> str:
    """The end of an instance's log, read in bounded memory (a log may be huge), with
    ``secrets`` masked."""
    # A secret cut in two at the start must still be masked whole: read that much more.
    reach = limit + max((len(secret.encode()) for secret in secrets), default=0)
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - reach))
            data = handle.read(reach)
    except OSError:
        return "(no log)"
    shown = masked(data.decode("utf-8", errors="replace"), secrets)[-limit:]
    return shown.strip().replace("\n", " | ") or "(empty log)"


def _rotate(log: Path, limit: int = LOG_LIMIT) -> None:
    """A log past ``limit`` bytes becomes ``<name>.1`` (replacing the older one), so a
    restarted instance never appends to an ever-growing file."""
    try:
        if log.stat().st_size > limit:
            log.replace(log.with_name(log.name + ".1"))
    except FileNotFoundError:
        pass
