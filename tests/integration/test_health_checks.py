"""Health checks against real servers on loopback: HTTP, TCP, commands; retries, timeouts,
the overall deadline and the concurrency limit."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cli import main
from pipelines.config.health import CheckStatus, HealthCheck, HealthSettings
from pipelines.health.run import run_health

pytestmark = pytest.mark.integration


class Target(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.calls: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


RANGE = {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "2"]]}]}
# Answers of shapes a probe does not expect.
FIXED = {
    "/scalar": b"5",
    "/range": json.dumps({"status": "success", "data": RANGE}).encode(),
    "/list": b"[1, 2]",
    "/huge": b"x" * (20 * 1024 * 1024),
}


class Handler(BaseHTTPRequestHandler):
    server: Target

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        with self.server.lock:
            self.server.calls[path] = self.server.calls.get(path, 0) + 1
            calls = self.server.calls[path]
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            code, body = self.answer(path, query, calls)
        finally:
            with self.server.lock:
                self.server.in_flight -= 1
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self, path: str, query: str, calls: int) -> tuple[int, bytes]:
        if path == "/ok":
            return 200, json.dumps({"status": "ok", "db": {"up": True}}).encode()
        if path == "/slow":
            time.sleep(int(query.split("=")[1]) / 1000)
            return 200, b'{"status": "ok"}'
        if path == "/flaky":
            return (200, b"{}") if calls >= 3 else (503, b"{}")
        if path.removesuffix("/api/v1/query") in FIXED:
            return 200, FIXED[path.removesuffix("/api/v1/query")]
        if path == "/secret":
            ok = self.headers.get("Authorization") == "Bearer s3cret"
            return (200, b"{}") if ok else (401, b"{}")
        return 500, b'{"status": "down"}'

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check(name: str, kind: str, target: Any, **options: Any) -> HealthCheck:
    return HealthCheck.of(name, kind, target, **options)


def test_every_kind_of_probe(target: Target) -> None:
    settings = HealthSettings(
        (
            check(
                "json",
                "http",
                {
                    "url": target.url + "/ok",
                    "json_path": "db.up",
                    "json_equals": "true",
                    "body_contains": "ok",
                },
            ),
            check("down", "http", {"url": target.url + "/down"}, critical=False),
            check("port", "tcp", {"host": "127.0.0.1", "port": target.server_address[1]}),
            check("closed", "tcp", {"host": "127.0.0.1", "port": closed_port()}, critical=False),
            check("cmd", "command", [sys.executable, "-c", "pass"]),
            check(
                "cmd-fails",
                "command",
                [sys.executable, "-c", "import sys; sys.exit('broken disk')"],
                critical=False,
            ),
        )
    )
    report = run_health("ci", settings)
    status = {r.name: r.status for r in report.results}
    assert status == {
        "json": "passed",
        "down": "failed",
        "port": "passed",
        "closed": "failed",
        "cmd": "passed",
        "cmd-fails": "failed",
    }
    details = {r.name: r.detail for r in report.results}
    assert details["down"] == "HTTP 500, expected 200"
    assert details["cmd-fails"] == "exit 1, expected 0: broken disk"
    assert report.status == "degraded"
    assert report.critical_failures == []


def test_retries_back_off_until_the_check_passes(target: Target) -> None:
    flaky = check("flaky", "http", {"url": target.url + "/flaky"}, retries=3, backoff=0.01)
    result = run_health("ci", HealthSettings((flaky,))).results[0]
    assert (result.status, result.attempts) == (CheckStatus.PASSED, 3)
    assert target.calls["/flaky"] == 3


def test_timeouts_latency_budget_and_the_overall_deadline(target: Target) -> None:
    settings = HealthSettings(
        (
            check("too-slow", "http", {"url": target.url + "/slow?ms=400"}, timeout=0.1),
            check("over-budget", "http", {"url": target.url + "/slow?ms=60", "max_latency_ms": 5}),
            check("never-done", "http", {"url": target.url + "/slow?ms=3000"}, timeout=10),
        ),
        deadline=1.0,
    )
    report = run_health("ci", settings)
    results = {r.name: r for r in report.results}
    assert results["too-slow"].detail == "no answer within 0.1 s"
    assert results["over-budget"].detail.startswith("took ")
    assert results["never-done"].status is CheckStatus.TIMEOUT
    assert report.status == "unhealthy"


def test_the_concurrency_limit_holds(target: Target) -> None:
    checks = tuple(check(f"c{i}", "http", {"url": target.url + "/slow?ms=100"}) for i in range(12))
    report = run_health("ci", HealthSettings(checks, concurrency=4))
    assert all(r.status is CheckStatus.PASSED for r in report.results)
    assert 2 <= target.max_in_flight <= 4


def test_header_values_come_from_the_environment(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cret")
    secret = check(
        "secret",
        "http",
        {"url": target.url + "/secret", "headers": {"Authorization": "Bearer ${API_TOKEN}"}},
    )
    assert run_health("ci", HealthSettings((secret,))).results[0].status is CheckStatus.PASSED


def write_pipeline(project: Path, checks: list[dict[str, Any]]) -> None:
    config = {
        "environments": {"staging": {"health": {"checks": checks}}},
        "stages": {"security": {"enabled": False}},
    }
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config))


def test_cli_exit_codes_and_report(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_pipeline(
        tmp_path,
        [
            {"name": "api", "http": {"url": target.url + "/ok"}},
            {"name": "extra", "http": {"url": target.url + "/down"}, "critical": False},
        ],
    )
    assert main(["health", "-C", str(tmp_path), "--env", "staging", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "degraded"
    saved = json.loads((tmp_path / "reports/health/result.json").read_text())
    assert saved["details"]["checks"][0]["name"] == "api"
    write_pipeline(tmp_path, [{"name": "api", "http": {"url": target.url + "/down"}}])
    assert main(["health", "-C", str(tmp_path), "--env", "staging"]) == 1
    assert main(["health", "-C", str(tmp_path), "--env", "ci"]) == 2
    # The plan runs health before the gate, and a failing critical check closes it.
    assert main(["plan", "-C", str(tmp_path), "--env", "staging", "--json"]) == 0
    capsys.readouterr()
    assert main(["stage", "gate", "-C", str(tmp_path), "--env", "staging"]) == 1
    decision = json.loads((tmp_path / "reports/gate/decision.json").read_text())
    rule = next(r for r in decision["rules"] if r["name"] == "health_checks")
    assert rule["detail"] == "critical checks failing: api"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "x", "tcp": {"host": "h", "port": 1}, "http": {"url": "http://h"}},
            "exactly one of http, tcp, command, promql (found: http, tcp)",
        ),
        ({"name": "x"}, "(found: none)"),
        ({"name": "x", "tcp": {"host": "h", "port": 70000}}, "expected an integer from 1"),
        ({"name": "x", "http": {"url": "ftp://h"}}, "expected an http(s) URL"),
    ],
)
def test_bad_checks_are_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: dict[str, Any], message: str
) -> None:
    write_pipeline(tmp_path, [entry])
    assert main(["validate", "-C", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_a_misbehaving_probe_fails_its_own_check_only(target: Target) -> None:
    settings = HealthSettings(
        (
            check("scalar-json", "http", {"url": target.url + "/scalar", "json_path": "a.b"}),
            check(
                "list-answer",
                "promql",
                {"url": target.url + "/list", "query": "up", "op": ">", "value": 0},
            ),
            check(
                "range",
                "promql",
                {"url": target.url + "/range", "query": "up[5m]", "op": ">", "value": 0},
            ),
            check("bad-url", "http", {"url": "http://[zz]/"}),
            check("fine", "http", {"url": target.url + "/ok"}),
        )
    )
    report = run_health("ci", settings)
    results = {r.name: r for r in report.results}
    assert results["fine"].status is CheckStatus.PASSED
    for name in ("scalar-json", "list-answer", "range", "bad-url"):
        assert results[name].status is CheckStatus.FAILED, name
    assert "no JSON field 'a.b'" in results["scalar-json"].detail
    assert "instant query" in results["range"].detail
    assert "probe error" in results["bad-url"].detail


def test_a_huge_body_is_read_only_up_to_the_bound(target: Target) -> None:
    settings = HealthSettings(
        (
            check("huge", "http", {"url": target.url + "/huge", "body_contains": "y"}),
            check("huge-status", "http", {"url": target.url + "/huge"}),
        )
    )
    results = {r.name: r for r in run_health("ci", settings).results}
    assert results["huge"].status is CheckStatus.FAILED
    assert "larger than 1048576 bytes" in results["huge"].detail
    assert results["huge-status"].status is CheckStatus.PASSED


def test_check_names_must_be_unique(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checks = [{"name": "api", "tcp": {"host": "127.0.0.1", "port": 1}}] * 2
    (tmp_path / "pipeline.yaml").write_text(
        yaml.safe_dump({"environments": {"ci": {"health": {"checks": checks}}}})
    )
    assert main(["validate", "-C", str(tmp_path)]) == 2
    assert "checks[1].name: 'api' is already the name of checks[0]" in capsys.readouterr().err


def test_promql_answers_and_command_output_are_read_only_up_to_a_bound(target: Target) -> None:
    chatty = (
        "import sys\nfor _ in range(40000): sys.stdout.write('x' * 500 + '\\n')\n"
        "print('last words'); sys.exit(3)"
    )
    settings = HealthSettings(
        (
            check(
                "huge-answer",
                "promql",
                {"url": target.url + "/huge", "query": "up", "op": ">", "value": 0},
            ),
            check("chatty", "command", [sys.executable, "-c", chatty]),
        )
    )
    results = {r.name: r for r in run_health("ci", settings).results}
    assert results["huge-answer"].status is CheckStatus.FAILED
    assert "larger than 1048576 bytes" in results["huge-answer"].detail
    assert results["chatty"].status is CheckStatus.FAILED
    assert results["chatty"].detail.endswith("exit 3, expected 0: last words")
