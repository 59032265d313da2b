"""The router in front of every target: a real nginx with its own prefix directory.

Each change renders the whole config from the template, checks it with ``nginx -t``, and only
then replaces the live file and reloads gracefully (in-flight requests finish on the old
workers). A config that fails the check is never loaded: the old one keeps serving. Every
config carries a generation number that nginx itself answers on ``/__pipelines/route``, so a
switch is measured until nginx really serves the new routing.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pipelines import atomic
from pipelines.deploy import routing
from pipelines.deploy.routing import RoutingRecord
from pipelines.deploy.target import Backend, TargetError
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from pipelines.deploy.registry import TargetContext

ROUTE_PATH = "/__pipelines/route"
LISTEN = re.compile(r"[0-9.]{7,15}:[0-9]{1,5}")
SERVER = LISTEN
# Characters a path in the config may hold: quoted, nothing in it can end the string, start
# a variable or a block, or end the directive.
SAFE_PATH = re.compile(r"[A-Za-z0-9_./@+=,:~ -]+")


class RouteRecord(msgspec.Struct, frozen=True):
    """A routing: the config's generation and its servers' weights (``route.json``, and what
    nginx answers on ``ROUTE_PATH``)."""

    generation: int
    servers: dict[str, int]  # host:port -> weight


TEMPLATE = """\
# Written by portable-pipelines; every change is checked with `nginx -t` before a reload.
worker_processes 1;
pid "{prefix}/nginx.pid";
error_log "{prefix}/logs/error.log" warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path "{prefix}/tmp/body";
    proxy_temp_path "{prefix}/tmp/proxy";
    fastcgi_temp_path "{prefix}/tmp/fastcgi";
    uwsgi_temp_path "{prefix}/tmp/uwsgi";
    scgi_temp_path "{prefix}/tmp/scgi";
    upstream service {{
{servers}
        keepalive 32;
    }}
    server {{
        listen {listen};
        location = {route_path} {{
            default_type application/json;
            return 200 '{route}';
        }}
        location / {{
            proxy_pass http://service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # An instance that just left (or died) is skipped: clients never see it.
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 2s;
            # Streamed, never buffered to disk: unprivileged workers need no temp files.
            proxy_request_buffering off;
            proxy_max_temp_file_size 0;
        }}
    }}
{preview}}}
"""
# The new pool's own address before a blue-green switch (the same proxying as the service's).
PREVIEW = """\
    upstream preview {{
{servers}
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://preview;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 2s;
            proxy_request_buffering off;
            proxy_max_temp_file_size 0;
        }}
    }}
"""


def safe_path(path: Path) -> str:
    """``path`` as it may stand in the config (inside double quotes), or a usage error."""
    text = str(path)
    if not SAFE_PATH.fullmatch(text):
        raise UsageError(
            f"the deploy state directory {text!r} holds characters nginx's config cannot "
            "carry safely",
            hint="set PIPELINES_STATE_DIR to a path of letters, digits, '-', '_', '.', '/'",
        )
    return text


def worker_user() -> str:
    """Run as root, the workers (which talk to the network) drop to an unprivileged user."""
    if os.geteuid() != 0:
        return ""  # nginx cannot change users then: the workers run as we do
    for user, group in (("nobody", "nogroup"), ("nobody", "nobody")):
        try:
            pwd.getpwnam(user)
            grp.getgrnam(group)
        except KeyError:
            continue
        return f"user {user} {group};"
    raise UsageError(
        "running as root, nginx's workers need an unprivileged user and there is no "
        "'nobody' user with a 'nogroup' or 'nobody' group",
        hint="create one, or deploy as an unprivileged user",
    )


def nginx_binary() -> str:
    """nginx's path (Debian keeps it in /usr/sbin, which a user's PATH may lack)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise UsageError(
            "nginx is not installed: the local and docker targets route traffic through it",
            hint="install it (Debian: apt-get install nginx-light)",
        )
    return found


def _server_lines(servers: Mapping[str, int]) -> str:
    """An upstream's servers: checked, with passive health (a server that fails 3 times in
    a row is skipped for 5 s, the request that met it going to the next one)."""
    for address, weight in servers.items():
        if not SERVER.fullmatch(address) or not isinstance(weight, int) or weight < 0:
            raise TargetError(f"refusing to route to {address!r} with weight {weight!r}")
    lines = [
        f"        server {address} weight={weight} max_fails=3 fail_timeout=5s;"
        for address, weight in sorted(servers.items())
        if weight > 0
    ]
    # Nothing to route to: answer 502 rather than refuse the config.
    return "\n".join(lines or ["        server 127.0.0.1:9 down;"])


def _accepting(pid: int) -> bool:
    """True while an nginx worker runs and has not been told to shut down."""
    try:
        return b"shutting down" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Nginx:
    """One nginx instance that routes ``listen`` to weighted upstream servers."""

    def __init__(self, prefix: Path, listen: str, preview_listen: str | None = None) -> None:
        for address in (listen, preview_listen or listen):
            if not LISTEN.fullmatch(address):
                raise UsageError(
                    f"nginx cannot listen on {address!r}",
                    hint="deploy.targets[].listen is an address such as 127.0.0.1:18080",
                )
        self.prefix, self.listen, self.preview_listen = prefix, listen, preview_listen
        self.binary = nginx_binary()
        self.conf = prefix / "nginx.conf"
        self.state = prefix / "route.json"
        self.records = prefix / "routing.json"

    def render(
        self, servers: Mapping[str, int], generation: int, preview: Mapping[str, int] | None = None
    ) -> str:
        """The config for these ``host:port`` servers and weights (and the preview's)."""
        route = json.dumps(
            msgspec.to_builtins(RouteRecord(generation, dict(sorted(servers.items()))))
        )
        previewing = ""
        if self.preview_listen is not None:
            previewing = PREVIEW.format(
                servers=_server_lines(preview or {}), listen=self.preview_listen
            )
        return TEMPLATE.format(
            prefix=safe_path(self.prefix),
            user=worker_user(),
            servers=_server_lines(servers),
            listen=self.listen,
            route_path=ROUTE_PATH,
            route=route.replace("'", ""),
            preview=previewing,
        )

    def current(self) -> tuple[int, dict[str, int]]:
        """The generation and servers of the live config."""
        try:
            live = msgspec.json.decode(self.state.read_bytes(), type=RouteRecord)
        except (OSError, msgspec.DecodeError):
            return 0, {}  # none yet, or damaged: the next routing starts the count again
        return live.generation, live.servers

    def routings(self) -> list[RoutingRecord]:
        """The routings recorded before their reloads, newest last."""
        return routing.read(self.records)

    def live(self) -> tuple[int, dict[str, int]] | None:
        """The generation and servers nginx itself answers with now (None: it does not)."""
        try:
            # http://, built from a checked address: no other scheme can reach here.
            with urllib.request.urlopen(  # nosec B310
                f"http://{self.listen}{ROUTE_PATH}", timeout=2
            ) as response:
                served = msgspec.json.decode(response.read(), type=RouteRecord)
        except (OSError, msgspec.DecodeError):
            return None
        return served.generation, served.servers

    def apply(
        self,
        servers: Mapping[str, int],
        names: Mapping[str, int] | None = None,
        preview: Mapping[str, int] | None = None,
    ) -> float:
        """Check, record, install and load a routing (``names``: the instances behind the
        servers; ``preview``: the preview address's servers, by default the recorded ones);
        return the seconds until nginx serves it."""
        for name in ("logs", "tmp"):
            (self.prefix / name).mkdir(parents=True, exist_ok=True)
        known = self.routings()
        live = self.live()
        # Above every generation ever handed over or served: a reload the last controller
        # sent but never confirmed must not share its number with this one.
        generation = 1 + max(
            self.current()[0],
            known[-1].generation if known else 0,
            live[0] if live else 0,
        )
        if preview is None:
            preview = known[-1].preview if known else {}
        candidate = self.prefix / "nginx.conf.new"
        atomic.write_text(candidate, self.render(servers, generation, preview))
        checked = subprocess.run(
            [*self.base_argv(), "-t", "-q", "-c", str(candidate)],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode != 0:
            raise TargetError(f"nginx refused the new routing: {checked.stderr.strip()}")
        record = RoutingRecord(
            generation=generation,
            servers=dict(servers),
            names=dict(names or {}),
            preview=dict(preview),
        )
        routing.write(self.records, [*known, record])
        started = time.monotonic()
        candidate.replace(self.conf)
        master = self.pid()
        if master is None:
            self._run([*self.base_argv(), "-c", str(self.conf)])
        else:
            old = self._workers(master)
            self._run([*self.base_argv(), "-c", str(self.conf), "-s", "reload"])
            # Old workers accept new connections until they get their QUIT; only then does
            # every new connection meet the new routing.
            self._wait_until_draining(old)
        self._wait_for(generation)
        atomic.write_json(self.state, msgspec.to_builtins(RouteRecord(generation, dict(servers))))
        return time.monotonic() - started

    def _wait_for(self, generation: int, timeout: float = 10.0) -> None:
        url = f"http://{self.listen}{ROUTE_PATH}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                # http://, built above: no other scheme can reach here.
                with urllib.request.urlopen(url, timeout=1) as response:  # nosec B310
                    served = msgspec.json.decode(response.read(), type=RouteRecord)
                    if served.generation >= generation:
                        return
            except (OSError, msgspec.DecodeError):
                pass
            time.sleep(0.005)
        raise TargetError(f"nginx on {self.listen} did not serve routing {generation} in time")

    def base_argv(self) -> list[str]:
        """nginx with this prefix; -e: the start-up error log is ours too (its default needs
        root to open)."""
        return [self.binary, "-p", str(self.prefix), "-e", str(self.prefix / "logs/error.log")]

    def _workers(self, master: int) -> set[int]:
        """The worker processes of ``master`` that still accept connections."""
        found: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == master and b"shutting down" not in title:
                found.add(int(entry.name))
        return found

    def _wait_until_draining(self, old: set[int], timeout: float = 10.0) -> None:
        """Until every old worker is gone or shutting down (it then accepts nothing new);
        only those are looked at, not all of /proc."""
        deadline = time.monotonic() + timeout
        while any(_accepting(pid) for pid in old):
            if time.monotonic() > deadline:
                raise TargetError(f"nginx on {self.listen}: old workers kept accepting")
            time.sleep(0.002)

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise TargetError(f"{' '.join(argv)} failed: {done.stderr.strip()}")

    def pid(self) -> int | None:
        """The master's pid while it runs."""
        try:
            pid = int((self.prefix / "nginx.pid").read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop(self) -> None:
        """Stop nginx (graceful)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)
            deadline = time.monotonic() + 10
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.05)


class NginxRouter:
    """The ``nginx`` router: one nginx per target, under ``<home>/nginx``; the weights it
    routes with, by instance name, in ``<home>/weights.json``."""

    def __init__(self, home: Path, listen: str, preview_listen: str | None = None) -> None:
        self.home = home
        self.nginx = Nginx(home / "nginx", listen, preview_listen)
        self.weights = home / "weights.json"

    def route(self, backends: Sequence[Backend]) -> float:
        """Point nginx at these instances (recorded by name before the reload)."""
        servers = {b.instance.url.removeprefix("http://"): b.weight for b in backends}
        by_name = dict(sorted((b.instance.name, b.weight) for b in backends))
        seconds = self.nginx.apply(servers, by_name)
        self._write_weights(by_name)
        return seconds

    def routed(self) -> dict[str, int]:
        """The weights nginx routes with now, by instance name ({} while it does not serve):
        the generation nginx answers with, told in names by the record written before its
        reload; ``weights.json`` is brought in line when a controller died before it was."""
        if self.nginx.pid() is None:
            return {}
        live = self.nginx.live()
        if live is None:
            return {}
        generation, _ = live
        for record in self.nginx.routings():
            if record.generation == generation and (record.names or not record.servers):
                if record.names != self._read_weights():
                    self._write_weights(record.names)
                return dict(record.names)
        return self._read_weights()  # a routing from before records were kept

    def _read_weights(self) -> dict[str, int]:
        try:
            return msgspec.json.decode(self.weights.read_bytes(), type=dict[str, int])
        except (OSError, msgspec.DecodeError):
            return {}

    def _write_weights(self, by_name: Mapping[str, int]) -> None:
        atomic.write_bytes(self.weights, msgspec.json.encode(dict(sorted(by_name.items()))))

    def entrypoint(self) -> str:
        """nginx's address."""
        return f"http://{self.nginx.listen}"

    def preview(self, backends: Sequence[Backend]) -> str:
        """Point the preview address at these instances, the service's routing unchanged."""
        if self.nginx.preview_listen is None:
            return ""
        known = self.nginx.routings()
        servers = known[-1].servers if known else {}
        names = known[-1].names if known else self._read_weights()
        previewed = {b.instance.url.removeprefix("http://"): b.weight for b in backends}
        self.nginx.apply(servers, names, previewed)
        return f"http://{self.nginx.preview_listen}"

    def shutdown(self) -> None:
        """Stop nginx."""
        self.nginx.stop()


def router(context: TargetContext) -> NginxRouter:
    """The registry's factory."""
    return NginxRouter(context.home, context.listen, context.preview_listen)
