"""Steady client traffic through the router while a drill runs, as users would send it.

Two kinds of client: one opens a connection per request; the other keeps connections alive
and retries an idempotent request once when a kept-alive connection is closed before any
response (as browsers and urllib3 do). Every request's time and outcome are kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import anyio
import httpx

from pipelines.deploy.records import ClientsSummary

# Set to `injected` by the service on a response that failed because a drill asked it to.
FAULT_HEADER = "X-Pipelines-Fault"

# Why a request got no response: the client gave up waiting, or the connection broke.
NoResponse = Literal["timeout", "reset"]
# Lost requests by cause, in the order reports show them: no response, then the router's own
# errors (nginx answers 502, 503 or 504 when no instance does), then anything else.
LOST_CAUSES = ("timeouts", "resets", "router_502", "router_503", "router_504", "other")


@dataclass(frozen=True)
class Request:
    """One client request: when it was sent, its status (None: no response) and version."""

    at: float
    status: int | None
    version: str | None
    injected: bool  # the service said the failure was injected (a drill's fault)
    no_response: NoResponse | None = None


@dataclass
class LoadResult:
    """What the clients saw."""

    requests: list[Request] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """Requests sent."""
        return len(self.requests)

    @property
    def failed(self) -> list[Request]:
        """Requests that did not get a 2xx."""
        return [r for r in self.requests if r.status is None or r.status >= 300]

    @property
    def lost(self) -> list[Request]:
        """Failures the service did not choose: resets, 502/503/504 from the router. A
        seamless switch has none."""
        return [r for r in self.failed if not r.injected]

    def lost_by_cause(self) -> dict[str, int]:
        """Lost requests counted by why they were lost (every cause, zeros included)."""
        counts = dict.fromkeys(LOST_CAUSES, 0)
        for request in self.lost:
            if request.status is None:
                counts["timeouts" if request.no_response == "timeout" else "resets"] += 1
            elif f"router_{request.status}" in counts:
                counts[f"router_{request.status}"] += 1
            else:
                counts["other"] += 1
        return counts

    def summary(self) -> ClientsSummary:
        """Counts for reports."""
        versions: dict[str, int] = {}
        for request in self.requests:
            if request.version:
                versions[request.version] = versions.get(request.version, 0) + 1
        return ClientsSummary(
            sent=self.sent,
            failed=len(self.failed),
            failed_injected=len(self.failed) - len(self.lost),
            lost=len(self.lost),
            lost_by_cause=self.lost_by_cause(),
            by_version=versions,
        )


class LoadGenerator:
    """Sends ``rate`` GET requests per second to ``url`` in a background thread."""

    def __init__(
        self, url: str, rate: float, *, keepalive: bool = False, retry: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.url, self.rate, self.keepalive, self.retry = url, rate, keepalive, retry
        self.headers = dict(headers or {})
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def __enter__(self) -> LoadGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        """Stop sending and wait for the requests in flight."""
        self._stop.set()
        self._thread.join(timeout=30)
        return self.result

    def _run(self) -> None:
        anyio.run(self._send_all)

    async def _send_all(self) -> None:
        keep = 32 if self.keepalive else 0
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=keep)
        transport = httpx.AsyncHTTPTransport(retries=0, limits=limits)
        async with (
            httpx.AsyncClient(timeout=10.0, transport=transport, headers=self.headers) as client,
            anyio.create_task_group() as group,
        ):
            started = time.monotonic()
            count = 0
            while not self._stop.is_set():
                delay = started + count / self.rate - time.monotonic()
                if delay > 0:
                    await anyio.sleep(delay)
                elif delay < -1.0 / self.rate:
                    # Fallen behind (a busy machine stalled this thread): the missed slots
                    # are skipped, not sent at once. A burst of hundreds of requests is not
                    # steady traffic: it overflows the service's listen queue and its
                    # failures would be blamed on the deploy.
                    count = int((time.monotonic() - started) * self.rate)
                group.start_soon(self._one, client)
                count += 1

    async def _one(self, client: httpx.AsyncClient) -> None:
        at = time.time()
        attempts = 2 if self.keepalive and self.retry else 1
        for attempt in range(attempts):
            try:
                response = await client.get(self.url)
            except httpx.RemoteProtocolError:
                # A kept-alive connection closed before any response: GET is idempotent,
                # so retry once on a fresh connection, as browsers do.
                if attempt + 1 < attempts:
                    continue
                self.result.requests.append(Request(at, None, None, False, "reset"))
                return
            except httpx.TimeoutException:
                self.result.requests.append(Request(at, None, None, False, "timeout"))
                return
            except httpx.HTTPError:
                self.result.requests.append(Request(at, None, None, False, "reset"))
                return
            # The service's contract: a failure injected on purpose says so in a header.
            injected = response.headers.get(FAULT_HEADER, "").strip().lower() == "injected"
            version = None
            try:
                body = response.json()
                version = body.get("version") if isinstance(body, dict) else None
            except ValueError:
                pass
            self.result.requests.append(Request(at, response.status_code, version, injected))
            return
