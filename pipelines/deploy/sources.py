"""Metric sources for an analysis: probe traffic the controller sends itself, or Prometheus.

Both return one ``Sample`` per pool per measurement, and raise ``MeasureError`` when they
cannot measure (an analysis then ends in Error, which never promotes).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from typing import Protocol

import anyio
import httpx

from pipelines.deploy.analysis import Sample


class MeasureError(Exception):
    """The source could not measure (unreachable, a query that returns nothing)."""


class MetricSource(Protocol):
    """Measures the new pool and the stable pool over ``seconds``."""

    def measure(
        self, new: Sequence[str], stable: Sequence[str], seconds: float, versions: tuple[str, str]
    ) -> tuple[Sample, Sample | None]:
        """``new``/``stable`` are instance URLs; ``versions`` the new and stable versions."""
        ...

    def prepare(self) -> None:
        """Load what measuring needs (modules, event loop machinery) before the new release
        is exposed, so that the first measurement's time is spent measuring."""
        ...


class ProbeSource:
    """Steady probe traffic to every instance of both pools, spread over the interval."""

    def __init__(self, path: str, requests: int, timeout: float = 5.0) -> None:
        self.path, self.requests, self.timeout = path, requests, timeout

    def measure(
        self, new: Sequence[str], stable: Sequence[str], seconds: float, versions: tuple[str, str]
    ) -> tuple[Sample, Sample | None]:
        """Send ``requests`` requests to each pool, evenly spaced over ``seconds``."""
        del versions  # instances are addressed directly
        return anyio.run(self._measure, list(new), list(stable), seconds)

    def prepare(self) -> None:
        """Run the event loop once: its backend is imported on first use."""
        anyio.run(anyio.sleep, 0)

    async def _measure(
        self, new: list[str], stable: list[str], seconds: float
    ) -> tuple[Sample, Sample | None]:
        results: dict[str, Sample] = {}
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:
            # One unmeasured request per instance first: a process's first answer pays for
            # its warm-up, which says nothing about the release.
            for url in (*new, *stable):
                with contextlib.suppress(httpx.HTTPError):
                    await client.get(url + self.path)
            async with anyio.create_task_group() as group:
                for pool, urls in (("new", new), ("stable", stable)):
                    if urls:
                        group.start_soon(self._pool, client, pool, urls, seconds, results)
        return results["new"], results.get("stable")

    async def _pool(
        self,
        client: httpx.AsyncClient,
        pool: str,
        urls: list[str],
        seconds: float,
        results: dict[str, Sample],
    ) -> None:
        latencies: list[float] = [0.0] * self.requests
        failures: list[bool] = [True] * self.requests
        spacing = seconds / self.requests
        started = time.monotonic()

        async def one(index: int) -> None:
            url = urls[index % len(urls)] + self.path
            sent = time.monotonic()
            try:
                response = await client.get(url)
                failures[index] = response.status_code >= 500
            except httpx.HTTPError:
                failures[index] = True
            latencies[index] = (time.monotonic() - sent) * 1000

        async with anyio.create_task_group() as group:
            for index in range(self.requests):
                delay = started + index * spacing - time.monotonic()
                if delay > 0:
                    await anyio.sleep(delay)
                group.start_soon(one, index)
        remaining = started + seconds - time.monotonic()
        if remaining > 0:
            await anyio.sleep(remaining)
        results[pool] = Sample(tuple(latencies), tuple(failures))


class PrometheusSource:
    """Error rate (percent) and p95 latency (ms) per version, from PromQL with ``{version}``.

    The measurement waits for the interval first, so the queries see this interval's traffic.
    """

    def __init__(
        self, url: str, error_rate_query: str | None, latency_query: str | None, timeout: float
    ) -> None:
        self.url = url.rstrip("/")
        self.error_rate_query, self.latency_query = error_rate_query, latency_query
        self.timeout = timeout

    def measure(
        self, new: Sequence[str], stable: Sequence[str], seconds: float, versions: tuple[str, str]
    ) -> tuple[Sample, Sample | None]:
        """Wait ``seconds``, then query both versions."""
        del new, stable
        time.sleep(seconds)
        return self._sample(versions[0]), self._sample(versions[1]) if versions[1] else None

    def prepare(self) -> None:
        """Nothing to load: the queries use the client imported with this module."""

    def _sample(self, version: str) -> Sample:
        rate = self._query(self.error_rate_query, version)
        latency = self._query(self.latency_query, version)
        return Sample(error_rate=rate, p95_ms=latency)

    def _query(self, query: str | None, version: str) -> float | None:
        if query is None:
            return None
        text = query.replace("{version}", version)
        try:
            response = httpx.get(
                f"{self.url}/api/v1/query", params={"query": text}, timeout=self.timeout
            )
            response.raise_for_status()
            result = response.json()["data"]["result"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise MeasureError(f"Prometheus at {self.url}: {exc}") from exc
        if not result:
            raise MeasureError(f"Prometheus returned no series for {text!r}")
        value = float(result[0]["value"][1])
        if math.isnan(value):  #: no traffic in the window
            raise MeasureError(f"Prometheus returned NaN for {text!r} (no traffic?)")
        return value
