"""The probes: one async function per kind, each answering (ok, detail, latency)."""

from __future__ import annotations

import json
import operator
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from pipelines.child_env import child_environment
from pipelines.config.envvars import expand_env
from pipelines.config.health import HealthCheck, HttpProbe, PromqlProbe, TcpProbe
from pipelines.process import kill_session

# A health endpoint answers in bytes, not megabytes: read no more than this of a body.
MAX_BODY = 1024 * 1024
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class ProbeOutcome:
    """What one attempt found."""

    ok: bool
    detail: str
    latency_ms: float | None = None


Probe = Callable[[HealthCheck, httpx.AsyncClient], Awaitable[ProbeOutcome]]


def json_lookup(document: Any, path: str) -> Any:
    """Follow a dotted path (``data.items.0.status``) through JSON objects and lists."""
    current = document
    for part in path.split("."):
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise KeyError(path)
    return current


async def probe_http(
    check: HealthCheck, probe: HttpProbe, client: httpx.AsyncClient
) -> ProbeOutcome:
    """Status, body substring, JSON field and latency budget of one request."""
    headers = {
        name: expand_env(value, os.environ, f"health check {check.name!r}, header {name}")
        for name, value in probe.headers.items()
    }
    started = time.perf_counter()
    async with client.stream(
        probe.method, probe.url, headers=headers, timeout=check.timeout
    ) as response:
        body, complete = await _read_bounded(response)
    latency = (time.perf_counter() - started) * 1000
    if response.status_code != probe.status:
        return ProbeOutcome(False, f"HTTP {response.status_code}, expected {probe.status}", latency)
    if not complete and (probe.body_contains is not None or probe.json_path is not None):
        return ProbeOutcome(False, f"the body is larger than {MAX_BODY} bytes", latency)
    problem = _body_problem(probe, body.decode(response.encoding or "utf-8", errors="replace"))
    if problem:
        return ProbeOutcome(False, problem, latency)
    budget = probe.max_latency_ms
    if budget is not None and latency > budget:
        return ProbeOutcome(False, f"took {latency:.0f} ms, budget {budget:g} ms", latency)
    return ProbeOutcome(True, f"HTTP {response.status_code} in {latency:.0f} ms", latency)


def _body_problem(probe: HttpProbe, text: str) -> str:
    """What the body lacks of what the check expects ("" when nothing)."""
    if probe.body_contains is not None and probe.body_contains not in text:
        return f"body lacks {probe.body_contains!r}"
    if probe.json_path is not None:
        try:
            found = json_lookup(json.loads(text), probe.json_path)
        except (ValueError, KeyError, RecursionError):
            return f"no JSON field {probe.json_path!r}"
        wanted = probe.json_equals
        if wanted is not None and _text(found) != str(wanted):
            return f"{probe.json_path} is {found!r}, expected {str(wanted)!r}"
    return ""


async def _read_bounded(response: httpx.Response) -> tuple[bytes, bool]:
    """At most MAX_BODY bytes of the body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return b"".join(chunks)[:MAX_BODY], False
    return b"".join(chunks), True


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def probe_tcp(probe: TcpProbe) -> ProbeOutcome:
    """Whether a TCP connection opens."""
    host, port = probe.host, probe.port
    started = time.perf_counter()
    stream = await anyio.connect_tcp(host, port)
    await stream.aclose()
    latency = (time.perf_counter() - started) * 1000
    return ProbeOutcome(True, f"{host}:{port} open", latency)


async def probe_command(check: HealthCheck, argv: Sequence[str]) -> ProbeOutcome:
    """Whether a command exits with the expected code (argv list, no shell)."""
    started = time.perf_counter()
    returncode, kept = await _run_keeping_tail(argv)
    latency = (time.perf_counter() - started) * 1000
    if returncode == check.expect_exit:
        return ProbeOutcome(True, f"exit {returncode}", latency)
    output = kept.decode(errors="replace").strip().splitlines()
    tail = f": {output[-1][:200]}" if output else ""
    return ProbeOutcome(False, f"exit {returncode}, expected {check.expect_exit}{tail}", latency)


COMMAND_TAIL = 64 * 1024


async def _run_keeping_tail(argv: Sequence[str]) -> tuple[int, bytes]:
    """Run a check's command; keep only the end of its output (a chatty or hostile command
    cannot fill the memory), all of which is still read so it never blocks on a full pipe."""
    process = await anyio.open_process(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # pipeline.yaml names the command: it gets the declared defaults, never our secrets.
        env=child_environment(os.environ),
        # Its own session: on a timeout it is ended with everything it started.
        start_new_session=True,
    )
    kept = b""
    try:
        if process.stdout is not None:
            async for chunk in process.stdout:
                kept = (kept + chunk)[-COMMAND_TAIL:]
        return await process.wait(), kept
    except BaseException:
        with anyio.CancelScope(shield=True):
            kill_session(process.pid)
            await process.wait()
        raise


async def probe_promql(
    check: HealthCheck, probe: PromqlProbe, client: httpx.AsyncClient
) -> ProbeOutcome:
    """An instant query whose (first) value must satisfy the comparison."""
    started = time.perf_counter()
    async with client.stream(
        "GET",
        f"{probe.url.rstrip('/')}/api/v1/query",
        params={"query": probe.query},
        timeout=check.timeout,
    ) as response:
        raw, complete = await _read_bounded(response)
    latency = (time.perf_counter() - started) * 1000
    if not complete:
        return ProbeOutcome(False, f"the answer is larger than {MAX_BODY} bytes", latency)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        return ProbeOutcome(False, f"HTTP {response.status_code}, not a Prometheus answer", latency)
    if body.get("status") != "success":
        return ProbeOutcome(
            False, f"query failed: {body.get('error', response.status_code)}", latency
        )
    try:
        value = _first_value(body.get("data") or {})
    except (TypeError, KeyError, IndexError, AttributeError) as exc:
        return ProbeOutcome(False, f"not a Prometheus answer ({type(exc).__name__})", latency)
    if value is None:
        return ProbeOutcome(False, "the query returned no data", latency)
    op, threshold = probe.op, probe.value
    ok = COMPARE[op](value, threshold)
    return ProbeOutcome(ok, f"value {value:g} {op} {threshold:g}: {'yes' if ok else 'no'}", latency)


def _first_value(data: Mapping[str, Any]) -> float | None:
    if data.get("resultType") == "matrix":
        raise ValueError("the query returned a range (matrix); a check needs an instant query")
    result = data.get("result")
    if data.get("resultType") in ("scalar", "string") and isinstance(result, list):
        return float(result[1])
    if isinstance(result, list) and result:
        return float(result[0]["value"][1])
    return None


async def run_probe(check: HealthCheck, client: httpx.AsyncClient) -> ProbeOutcome:
    """One attempt of the check's probe (a check has exactly one)."""
    if check.http is not None:
        return await probe_http(check, check.http, client)
    if check.tcp is not None:
        return await probe_tcp(check.tcp)
    if check.command is not None:
        return await probe_command(check, check.command)
    if check.promql is not None:
        return await probe_promql(check, check.promql, client)
    raise AssertionError(f"health check {check.name!r} has no probe")  # HealthCheck forbids it
