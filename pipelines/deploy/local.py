"""The ``local`` target: each instance is a host process on a loopback port, behind nginx.

Instances run in their own session, so they outlive the controller: a controller killed
mid-deploy leaves the stable release serving. Each instance's pid and port are recorded
under ``instances/`` the moment it starts, so a resumed deploy or a rollback finds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines import atomic
from pipelines.child_env import child_environment
from pipelines.deploy.nginx import Nginx
from pipelines.deploy.settings import ServiceSettings
from pipelines.deploy.target import Release, Running, TargetError, http_ok, wait_healthy


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass(frozen=True)
class Launched:
    """An instance just launched: what identifies it, and how to watch it start."""

    record: Mapping[str, object]
    alive: Callable[[], bool]
    log_tail: Callable[[], str]


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


class LocalTarget:
    """Host processes behind a real nginx."""

    def __init__(
        self,
        name: str,
        *,
        home: Path,
        listen: str,
        service: ServiceSettings,
        env: Mapping[str, str],
        python: str | None = None,
        pass_env: tuple[str, ...] = (),
    ) -> None:
        self.name, self.home, self.service = name, home, service
        self.env = dict(env)
        # What instances take from the invoking environment beyond the defaults (child_env).
        self.pass_env = pass_env
        self.python = python or sys.executable
        self.instances = home / "instances"
        self.nginx = Nginx(home / "nginx", listen)

    def _record(self, instance: str) -> Path:
        return self.instances / f"{instance}.json"

    def _read(self, instance: str) -> dict[str, object] | None:
        try:
            data = json.loads(self._record(instance).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def start(self, instance: str, release: Release) -> Running:
        """Start the instance and wait until it is healthy (a healthy one is kept)."""
        current = self.running().get(instance)
        if current is not None and self.answers(instance, self.service.health_path):
            return current
        self.stop(instance)
        port = free_port()
        self.instances.mkdir(parents=True, exist_ok=True)
        launched = self._launch(instance, release, port)
        # Recorded the moment it exists: a controller that dies now still leaves its pid.
        record = {**launched.record, "port": port, "release": release.id}
        atomic.write_json(self._record(instance), record)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(
                url + self.service.health_path,
                self.service.start_timeout,
                launched.alive,
                f"instance {instance}",
                launched.log_tail,
            )
        except TargetError:
            self.stop(instance)
            raise
        return Running(instance, release.id, url)

    def service_env(self, release: Release, values: Mapping[str, str], port: int) -> dict[str, str]:
        """The instance's variables: the environment's, the service's, the release's."""
        filled = {key: fill(value, values) for key, value in self.service.env.items()}
        return {**self.env, **filled, **release.env, "PORT": str(port)}

    def _launch(self, instance: str, release: Release, port: int) -> Launched:
        """A host process from the release's snapshot, in a session of its own."""
        values = {"port": str(port), "version": release.version, "instance": instance}
        argv = [fill(part, values) for part in self.service.command or ()]
        if argv[0] in ("python", "python3"):
            argv[0] = self.python
        env = child_environment(
            os.environ, pass_env=self.pass_env, declared=self.service_env(release, values, port)
        )
        env[MARKER] = self.marker(instance)
        env.pop("PYTHONPATH", None)  # the release runs its own code, not the caller's
        log = self.instances / f"{instance}.log"
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
        return Launched(
            {"pid": process.pid, "argv": argv},
            lambda: _alive(process.pid),
            lambda: _tail(log),
        )

    def marker(self, instance: str) -> str:
        """The value of MARKER in an instance's environment: how an instance whose record
        was never written (its controller killed in between) is still found."""
        return f"{self.home}/{instance}"

    def stop(self, instance: str) -> None:
        """SIGTERM, then SIGKILL after 5 s; forget the instance. Its unrecorded twins (left
        by a controller killed between starting it and recording it) go too."""
        data = self._read(instance)
        pids = set(marked_processes(self.marker(instance)))
        if data is not None:
            pids.add(int(str(data["pid"])))
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
        self._record(instance).unlink(missing_ok=True)

    def answers(self, instance: str, path: str) -> bool:
        """GET ``path`` on the instance itself (not through nginx)."""
        running = self.running().get(instance)
        return running is not None and http_ok(running.url + path)

    def running(self) -> dict[str, Running]:
        """Every recorded instance whose process is alive."""
        found: dict[str, Running] = {}
        if not self.instances.is_dir():
            return found
        for record in sorted(self.instances.glob("*.json")):
            data = self._read(record.stem)
            if data is not None and _alive(int(str(data["pid"]))):
                url = f"http://127.0.0.1:{data['port']}"
                found[record.stem] = Running(record.stem, str(data["release"]), url)
        return found

    def route(self, weights: Mapping[str, int]) -> float:
        """Point nginx at these instances."""
        running = self.running()
        missing = sorted(set(weights) - set(running))
        if missing:
            raise TargetError(f"cannot route to {', '.join(missing)}: not running")
        servers = {running[name].url.removeprefix("http://"): w for name, w in weights.items()}
        names = {running[name].url.removeprefix("http://"): name for name in weights}
        seconds = self.nginx.apply(servers)
        atomic.write_json(self.home / "weights.json", {names[a]: w for a, w in servers.items()})
        return seconds

    def routed(self) -> dict[str, int]:
        """The weights nginx routes with now."""
        try:
            data = json.loads((self.home / "weights.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items()} if self.nginx.pid() else {}

    def entrypoint(self) -> str:
        """nginx's address."""
        return f"http://{self.nginx.listen}"

    def shutdown(self) -> None:
        """Stop nginx and every instance, recorded or not."""
        self.nginx.stop()
        for name in list(self.running()):
            self.stop(name)
        for pid in marked_processes(f"{self.home}/"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def _tail(log: Path, limit: int = 600) -> str:
    try:
        # Only the end is read: an instance's log may have grown without bound.
        with log.open("rb") as handle:
            handle.seek(max(handle.seek(0, os.SEEK_END) - 4 * limit, 0))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:].strip().replace("\n", " | ") or "(empty log)"
