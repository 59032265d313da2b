"""The ``local`` runtime: each instance is a host process on a loopback port.

Instances run in their own session, so they outlive the controller: a controller killed
mid-deploy leaves the stable release serving. Each instance's pid and port are recorded
under ``instances/`` the moment it starts, so a resumed deploy or a rollback finds it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.deploy.instances import ProcessRecord, Records, free_port
from pipelines.deploy.target import Release, Running, TargetError, http_ok, wait_healthy
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from pipelines.deploy.registry import TargetContext
    from pipelines.deploy.settings import ServiceSettings

__all__ = ["MARKER", "LocalRuntime", "free_port", "marked_processes", "runtime"]


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child if it exited
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier controller): ask the kernel
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (state Z) has exited; where nothing reaps orphans it lingers as one.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class _Detached(subprocess.Popen[bytes]):
    """A process meant to outlive this object (and this controller): it is tracked by pid
    in its record file and reaped by ``_alive``, so dropping the object is no leak."""

    def __del__(self) -> None:
        pass


MARKER = "PIPELINES_INSTANCE"


def marked_processes(prefix: str) -> list[int]:
    """Processes whose MARKER variable starts with ``prefix`` (the kernel keeps a process's
    environment, so they are found whoever started them)."""
    wanted = f"{MARKER}={prefix}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(item.startswith(wanted) for item in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


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
    ) -> None:
        self.home, self.service = home, service
        self.env = dict(env)
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
        # Recorded the moment it exists: a controller that dies now still leaves its pid.
        self.records.write(
            instance,
            ProcessRecord(release=release.id, port=port, pid=pid, argv=argv),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(
                url + self.service.health_path,
                self.service.start_timeout,
                lambda: _alive(pid),
                f"instance {instance}",
                lambda: _tail(log),
            )
        except TargetError:
            self.stop(instance)
            raise
        return Running(instance, release.id, url)

    def service_env(self, release: Release, values: Mapping[str, str], port: int) -> dict[str, str]:
        """The instance's variables: the environment's, the service's, the release's."""
        return service_env(self.env, self.service, release, values, port)

    def _launch(self, instance: str, release: Release, port: int) -> tuple[int, list[str], Path]:
        """A host process from the release's snapshot, in a session of its own."""
        values = {"port": str(port), "version": release.version, "instance": instance}
        argv = [fill(part, values) for part in self.service.command or ()]
        if argv[0] in ("python", "python3"):
            argv[0] = self.python
        env = {**os.environ, **self.service_env(release, values, port)}
        env[MARKER] = self.marker(instance)
        env.pop("PYTHONPATH", None)  # the release runs its own code, not the caller's
        log = self.records.directory / f"{instance}.log"
        with log.open("ab") as output:
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

    def stop(self, instance: str) -> None:
        """SIGTERM, then SIGKILL after 5 s; forget the instance. Its unrecorded twins (left
        by a controller killed between starting it and recording it) go too."""
        record = self.records.read(instance)
        pids = set(marked_processes(self.marker(instance)))
        if record is not None:
            pids.add(record.pid)
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        self.records.remove(instance)

    def running(self) -> dict[str, Running]:
        """Every recorded instance whose process is alive."""
        return {
            name: Running(name, record.release, f"http://127.0.0.1:{record.port}")
            for name, record in self.records.all()
            if _alive(record.pid)
        }

    def shutdown(self) -> None:
        """Stop every instance, recorded or not."""
        for name in list(self.running()):
            self.stop(name)
        for pid in marked_processes(f"{self.home}/"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


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
        home=context.home, service=context.service, env=context.env, python=context.python
    )


def _tail(log: Path, limit: int = 600) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:].strip().replace("\n", " | ") or "(empty log)"
