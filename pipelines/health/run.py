"""Running checks together: a concurrency limit, per-check timeouts, retries with backoff,
and an overall deadline after which unfinished checks are reported as timed out."""

from __future__ import annotations

import ssl
import time

import anyio
import httpx

from pipelines.config.health import (
    CheckResult,
    CheckStatus,
    HealthCheck,
    HealthReport,
    HealthSettings,
)
from pipelines.errors import PipelineError
from pipelines.health.probes import Probe, ProbeOutcome, run_probe


async def run_checks(env: str, settings: HealthSettings, probe: Probe = run_probe) -> HealthReport:
    """Run every check of ``settings`` and report each outcome (in declaration order)."""
    results: dict[str, CheckResult] = {}
    limiter = anyio.CapacityLimiter(settings.concurrency)
    # One TLS context for the run (loading CA certificates is the slow part), but a client per
    # check: a shared httpx pool serialises hundreds of concurrent requests behind its lock.
    tls = ssl.create_default_context()
    started = time.perf_counter()
    with anyio.move_on_after(settings.deadline):
        async with anyio.create_task_group() as group:
            for check in settings.checks:
                group.start_soon(_run_one, check, tls, limiter, probe, results)
    elapsed = (time.perf_counter() - started) * 1000
    ordered = tuple(
        results.get(c.name)
        or CheckResult(
            c.name,
            c.kind,
            CheckStatus.TIMEOUT,
            c.critical,
            0,
            round(elapsed, 1),
            f"not finished within the {settings.deadline:g} s deadline",
        )
        for c in settings.checks
    )
    return HealthReport(env, ordered)


async def _run_one(
    check: HealthCheck,
    tls: ssl.SSLContext,
    limiter: anyio.CapacityLimiter,
    probe: Probe,
    results: dict[str, CheckResult],
) -> None:
    async with limiter, httpx.AsyncClient(verify=tls, follow_redirects=False) as client:
        started = time.perf_counter()
        outcome = ProbeOutcome(False, "not run")
        attempts = 0
        for attempt in range(check.retries + 1):
            attempts = attempt + 1
            outcome = await _attempt(check, client, probe)
            if outcome.ok:
                break
            if attempt < check.retries:
                await anyio.sleep(check.backoff * 2**attempt)
        status = CheckStatus.PASSED if outcome.ok else CheckStatus.FAILED
        results[check.name] = CheckResult(
            check.name,
            check.kind,
            status,
            check.critical,
            attempts,
            round((time.perf_counter() - started) * 1000, 1),
            outcome.detail,
            None if outcome.latency_ms is None else round(outcome.latency_ms, 1),
        )


async def _attempt(check: HealthCheck, client: httpx.AsyncClient, probe: Probe) -> ProbeOutcome:
    """One attempt; network and process errors become failed outcomes with the reason."""
    try:
        with anyio.fail_after(check.timeout):
            return await probe(check, client)
    except TimeoutError:
        return ProbeOutcome(False, f"no answer within {check.timeout:g} s")
    except httpx.HTTPError as exc:
        return ProbeOutcome(False, f"{type(exc).__name__}: {exc}".rstrip(": "))
    except OSError as exc:
        return ProbeOutcome(False, exc.strerror or str(exc))
    except PipelineError as exc:  # a ${NAME} that is not set: say which
        return ProbeOutcome(False, exc.message)
    except Exception as exc:
        # in it (an invalid URL, an answer of an unexpected shape) is that check's failure,
        # never the end of the whole health run.
        return ProbeOutcome(False, f"probe error: {type(exc).__name__}: {exc}".rstrip(": "))


def run_health(env: str, settings: HealthSettings) -> HealthReport:
    """Blocking entry point."""
    report: HealthReport = anyio.run(run_checks, env, settings)
    return report
