"""Where releases run and how traffic reaches them: one interface for every target, so the
strategies never know whether an instance is a process, a container or a pod."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import msgspec


class TargetError(Exception):
    """A target could not do what it was asked (an instance that never became healthy, a
    traffic config that nginx refused). The controller turns it into a failed step."""


class Release(msgspec.Struct, frozen=True):
    """A version of the service, kept on disk so that a rollback never rebuilds it (the
    journal and the evidence files hold it as this declared type)."""

    id: str  # r1, r2, ...: unique per environment, in deploy order
    version: str
    commit: str
    directory: Path  # the snapshot of the project the instances run from
    env: dict[str, str] = {}  # e.g. a drill's injected fault
    created: str = ""
    # A digest of the files the release was made from, and whether they differed from what
    # ``commit`` holds (uncommitted changes): what a gate decision is bound to.
    tree: str = ""
    dirty: bool | None = None


@dataclass(frozen=True)
class Running:
    """An instance a target runs: its name, release and address."""

    name: str
    release: str
    url: str  # http://host:port


class Runtime(Protocol):
    """Where instances run (host processes, containers, pods): it only starts, stops and
    lists them. Every call is idempotent: a resumed deploy repeats the step it was in when
    the controller died, and a second ``stop`` of the same instance does nothing.

    Instance names are ``<release id>-<n>`` (``r3-0``); a runtime keeps whatever it needs to
    find its instances again from another process (a record on disk, a label in a cluster).
    """

    def start(self, instance: str, release: Release) -> Running:
        """Start ``instance`` of ``release`` and return once it answers the service's health
        path (TargetError if it never does). An instance already running healthy is kept."""
        ...

    def stop(self, instance: str) -> None:
        """Stop ``instance`` and forget it (nothing happens when it is not running)."""
        ...

    def running(self) -> dict[str, Running]:
        """Every instance that really runs now, by name (never one that is merely recorded)."""
        ...

    def shutdown(self) -> None:
        """Stop every instance this runtime knows of, recorded or not (drills and tests)."""
        ...


@dataclass(frozen=True)
class Backend:
    """One instance a router sends traffic to, and its share."""

    instance: Running
    weight: int  # relative; 0 sends nothing


class Router(Protocol):
    """What sends client traffic to instances with weights (nginx, a Gateway API route, a
    replica ratio). It never starts or stops instances."""

    def route(self, backends: Sequence[Backend]) -> float:
        """Send traffic to exactly these backends with these weights; return the seconds
        until the new routing really served. A routing that fails validation is never
        loaded (TargetError, the old routing keeps serving)."""
        ...

    def routed(self) -> dict[str, int]:
        """The weights traffic is routed with now, by instance name ({} when the router is
        not serving)."""
        ...

    def entrypoint(self) -> str:
        """The URL clients use."""
        ...

    def preview(self, backends: Sequence[Backend]) -> str:
        """Send the preview address's traffic to these backends (the new pool of a blue-green
        deploy, before the switch); its URL, "" when the router has none."""
        ...

    def shutdown(self) -> None:
        """Stop routing (drills and tests clean up with this)."""
        ...


class Target(Protocol):
    """What the controller and the strategies talk to: one place a release is deployed to.
    Calls are idempotent: a resumed deploy repeats the step it was in when the controller
    died."""

    @property
    def name(self) -> str:
        """The target's name in pipeline.yaml (journal entries are by name)."""
        ...

    def start(self, instance: str, release: Release) -> Running:
        """Start ``instance`` of ``release`` and return once it is healthy (TargetError if it
        never is). An instance already running healthy is kept."""
        ...

    def stop(self, instance: str) -> None:
        """Stop ``instance`` (nothing happens when it is not running)."""
        ...

    def answers(self, instance: str, path: str) -> bool:
        """True when ``path`` on ``instance`` answers 2xx (health checks, smoke tests)."""
        ...

    def route(self, weights: Mapping[str, int]) -> float:
        """Send traffic to these instances with these weights; return the seconds it took
        until the new routing answered. A routing that fails validation is never loaded."""
        ...

    def running(self) -> dict[str, Running]:
        """Every instance that runs now, by name."""
        ...

    def routed(self) -> dict[str, int]:
        """The weights traffic is routed with now."""
        ...

    def entrypoint(self) -> str:
        """The URL clients use (through the router)."""
        ...

    def preview(self, instances: Sequence[str]) -> str:
        """Let the preview address reach these instances (and only them); its URL, "" when
        the target has no preview address."""
        ...

    def shutdown(self) -> None:
        """Stop the router and every instance (tests and drills clean up with this)."""
        ...


@dataclass(frozen=True)
class RoutedRuntime:
    """A target made of a runtime and a router: the one way targets are put together, so a
    new runtime or router needs no code here."""

    name: str
    runtime: Runtime
    router: Router

    def start(self, instance: str, release: Release) -> Running:
        """The runtime starts it."""
        return self.runtime.start(instance, release)

    def stop(self, instance: str) -> None:
        """The runtime stops it."""
        self.runtime.stop(instance)

    def answers(self, instance: str, path: str) -> bool:
        """GET ``path`` on the instance itself (not through the router)."""
        running = self.runtime.running().get(instance)
        return running is not None and http_ok(running.url + path)

    def route(self, weights: Mapping[str, int]) -> float:
        """Route to running instances only: a name that does not run is refused."""
        running = self.runtime.running()
        missing = sorted(set(weights) - set(running))
        if missing:
            raise TargetError(f"cannot route to {', '.join(missing)}: not running")
        return self.router.route([Backend(running[name], w) for name, w in weights.items()])

    def running(self) -> dict[str, Running]:
        """The runtime's instances."""
        return self.runtime.running()

    def routed(self) -> dict[str, int]:
        """The router's weights."""
        return self.router.routed()

    def entrypoint(self) -> str:
        """The router's address."""
        return self.router.entrypoint()

    def preview(self, instances: Sequence[str]) -> str:
        """The router previews the running ones of these instances."""
        running = self.runtime.running()
        return self.router.preview([Backend(running[n], 1) for n in instances if n in running])

    def shutdown(self) -> None:
        """The router first, so no client is sent to an instance that is going away."""
        self.router.shutdown()
        self.runtime.shutdown()


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` (plain http, built by this package) answers 2xx."""
    if not url.startswith("http://"):
        raise ValueError(f"not an http URL: {url!r}")
    # urllib, not httpx: a poll every few milliseconds must not build a TLS context each time.
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return 200 <= int(response.status) < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


def wait_healthy(
    url: str, timeout: float, alive: Callable[[], bool], what: str, log_tail: Callable[[], str]
) -> None:
    """Poll ``url`` until it answers 2xx; raise TargetError when the instance dies or the
    time runs out, with the end of its log."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if http_ok(url, timeout=1.0):
            return
        if not alive():
            raise TargetError(f"{what} exited before it was healthy: {log_tail()}")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    raise TargetError(f"{what} was not healthy within {timeout:g} s: {log_tail()}")
