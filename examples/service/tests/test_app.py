"""The example service's own tests: real HTTP against a server on a free port."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from service.app import Behaviour, ErrorBudget, make_server


def serve(behaviour: Behaviour) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, behaviour)
    # A short poll interval keeps shutdown() quick: each test starts its own server.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def base_url() -> Iterator[str]:
    yield from serve(Behaviour(version="2.0.0"))


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_root_reports_the_version(base_url: str) -> None:
    status, body = get(base_url + "/")
    assert status == 200
    assert json.loads(body) == {"service": "example", "version": "2.0.0"}


def test_healthz_is_ok(base_url: str) -> None:
    status, body = get(base_url + "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_metrics_count_requests_by_code(base_url: str) -> None:
    get(base_url + "/")
    get(base_url + "/nope")
    status, body = get(base_url + "/metrics")
    text = body.decode()
    assert status == 200
    assert 'http_requests_total{code="200",path="/"} 1.0' in text
    assert 'http_requests_total{code="404",path="other"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text


def test_error_rate_fails_that_share_of_requests() -> None:
    for url in serve(Behaviour(error_rate=0.25)):
        codes = [get(url + "/")[0] for _ in range(20)]
        assert codes.count(500) == 5
        assert get(url + "/healthz")[0] == 200


@pytest.mark.parametrize(("rate", "failures"), [(0.0, 0), (0.1, 10), (0.5, 50), (1.0, 100)])
def test_error_budget_is_exact(rate: float, failures: int) -> None:
    budget = ErrorBudget(rate)
    assert sum(budget.next_fails() for _ in range(100)) == failures


def test_behaviour_from_env_reads_and_checks_values() -> None:
    behaviour = Behaviour.from_env(
        {"SERVICE_ERROR_RATE": "0.2", "SERVICE_LATENCY_MS": "50", "SERVICE_VERSION": "3.1"}
    )
    assert behaviour == Behaviour(version="3.1", error_rate=0.2, latency_ms=50.0)
    with pytest.raises(ValueError, match="SERVICE_ERROR_RATE"):
        Behaviour.from_env({"SERVICE_ERROR_RATE": "1.5"})
    with pytest.raises(ValueError, match="SERVICE_LATENCY_MS"):
        Behaviour.from_env({"SERVICE_LATENCY_MS": "-1"})


def test_latency_is_added() -> None:
    for url in serve(Behaviour(latency_ms=30)):
        assert get(url + "/")[0] == 200
