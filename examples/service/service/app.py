"""The example service: ``/``, ``/healthz`` and ``/metrics`` over plain HTTP.

Its behaviour can be degraded through the environment so deploys and rollback drills have
something real to detect:

- ``SERVICE_ERROR_RATE``: fraction (0-1) of ``/`` requests answered with HTTP 500;
- ``SERVICE_LATENCY_MS``: milliseconds added to every ``/`` request;
- ``SERVICE_CRASH_ON_START``: ``1`` makes the service exit at once (a release that never
  starts).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service import __version__


@dataclass(frozen=True)
class Behaviour:
    """How the service behaves: its version and the degradation it was asked for."""

    version: str = __version__
    error_rate: float = 0.0
    latency_ms: float = 0.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Behaviour:
        """Read the behaviour from environment variables, rejecting nonsense values."""
        env = dict(os.environ if environ is None else environ)
        error_rate = float(env.get("SERVICE_ERROR_RATE", "0"))
        latency_ms = float(env.get("SERVICE_LATENCY_MS", "0"))
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"SERVICE_ERROR_RATE must be between 0 and 1, got {error_rate}")
        if latency_ms < 0:
            raise ValueError(f"SERVICE_LATENCY_MS must not be negative, got {latency_ms}")
        return cls(env.get("SERVICE_VERSION", __version__), error_rate, latency_ms)


class ErrorBudget:
    """Fails exactly ``rate`` of requests, spread evenly (deterministic, unlike random draws)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.count = 0
        self.lock = threading.Lock()

    def next_fails(self) -> bool:
        """True when this request should fail."""
        with self.lock:
            before = int(self.count * self.rate)
            self.count += 1
            return int(self.count * self.rate) > before


class Service:
    """The service's state: behaviour, error budget and metrics."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.errors = ErrorBudget(behaviour.error_rate)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by path and status code.",
            ["path", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by path.",
            ["path"],
            registry=self.registry,
        )


# A response to a request that failed on purpose (a drill's fault) carries this header.
FAULT_HEADER = "X-Pipelines-Fault"


def make_handler(service: Service) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``service``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = f"example-service/{service.behaviour.version}"

        def do_GET(self) -> None:
            started = time.perf_counter()
            path = self.path.split("?", 1)[0]
            injected = False
            if path == "/":
                code, body, kind, injected = self._root()
            elif path == "/healthz":
                code, body, kind = 200, _json({"status": "ok"}), "application/json"
            elif path == "/metrics":
                code, body, kind = 200, generate_latest(service.registry), CONTENT_TYPE_LATEST
            else:
                code, body, kind = 404, _json({"error": "not found"}), "application/json"
            label = path if code != 404 else "other"
            service.requests.labels(label, str(code)).inc()
            service.latency.labels(label).observe(time.perf_counter() - started)
            self.send_response(code)
            if injected:  # the drill's contract: an injected failure says so in a header
                self.send_header(FAULT_HEADER, "injected")
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _root(self) -> tuple[int, bytes, str, bool]:
            behaviour = service.behaviour
            if behaviour.latency_ms:
                time.sleep(behaviour.latency_ms / 1000)
            if service.errors.next_fails():
                return 500, _json({"error": "injected failure"}), "application/json", True
            payload = {"service": "example", "version": behaviour.version}
            return 200, _json(payload), "application/json", False

        def log_message(self, format: str, *args: object) -> None:
            """Stay quiet: access logs would drown the pipeline's output."""

    return Handler


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode("utf-8")


def make_server(host: str, port: int, behaviour: Behaviour) -> ThreadingHTTPServer:
    """A ready-to-serve HTTP server (port 0 picks a free port)."""
    return ThreadingHTTPServer((host, port), make_handler(Service(behaviour)))
