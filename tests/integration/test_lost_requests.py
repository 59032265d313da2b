"""A drill says why requests were lost: the load generator's clients against a real HTTP server
that answers as a router does when no instance can (502, 503, 504), drops connections, or
fails on its own; each kind is counted apart, the way the server counted what it did."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.deploy.load import FAULT_HEADER, LOST_CAUSES, LoadGenerator, LoadResult, Request

pytestmark = pytest.mark.integration

ANSWERS = ("ok", "502", "503", "504", "500", "drop", "injected")


@pytest.fixture
def server() -> Iterator[tuple[str, Counter[str]]]:
    answered: Counter[str] = Counter()
    turns = itertools.cycle(ANSWERS)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                turn = next(turns)
                answered[turn] += 1
            if turn == "drop":
                self.close_connection = True
                self.connection.close()  # no response at all: the client sees a reset
                return
            status = {"ok": 200, "injected": 500}.get(turn) or int(turn)
            body = b"{}"
            self.send_response(status)
            if turn == "injected":
                self.send_header(FAULT_HEADER, "injected")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}/", answered
    finally:
        http.shutdown()
        http.server_close()


def test_lost_requests_are_counted_by_cause(server: tuple[str, Counter[str]]) -> None:
    url, answered = server
    generator = LoadGenerator(url, rate=70.0)
    with generator:
        deadline = time.monotonic() + 60
        while sum(answered.values()) < 3 * len(ANSWERS) and time.monotonic() < deadline:
            time.sleep(0.05)
    result = generator.result
    causes = result.lost_by_cause()
    assert list(causes) == list(LOST_CAUSES)
    assert causes["router_502"] == answered["502"] >= 3
    assert causes["router_503"] == answered["503"] >= 3
    assert causes["router_504"] == answered["504"] >= 3
    assert causes["other"] == answered["500"] >= 3
    assert causes["resets"] == answered["drop"] >= 3
    assert causes["timeouts"] == 0
    assert sum(causes.values()) == len(result.lost)
    # The drill's own fault is a failure, never a loss.
    assert len(result.failed) - len(result.lost) == answered["injected"]
    assert result.summary().lost_by_cause == causes


def test_a_client_that_gave_up_waiting_is_a_timeout() -> None:
    result = LoadResult(
        [
            Request(1.0, None, None, False, "timeout"),
            Request(2.0, None, None, False, "reset"),
            Request(3.0, 200, "1.0.0", False),
        ]
    )
    assert result.lost_by_cause() == {
        "timeouts": 1,
        "resets": 1,
        "router_502": 0,
        "router_503": 0,
        "router_504": 0,
        "other": 0,
    }
