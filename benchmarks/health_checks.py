"""Concurrent health checks against slow endpoints, against a sequential loop.

Prints JSON. Target: 200 HTTP endpoints that each answer after 250 ms are all checked in
under 1.5 s with the default settings. The sequential loop is measured over every endpoint
(about 50 s); ``--sample N`` measures it on N of them and scales, and says so.

    python benchmarks/health_checks.py [--endpoints 200] [--delay-ms 250] [--sample N]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import time

import httpx

from pipelines.config.health import CheckStatus, HealthCheck, HealthSettings
from pipelines.health.run import run_health

TARGET_SECONDS = 1.5


RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b'Content-Length: 16\r\n\r\n{"status": "ok"}'
)


async def _answer(delay: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every request on a keep-alive connection after ``delay`` seconds."""
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            await asyncio.sleep(delay)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(delay: float, ports: multiprocessing.Queue[int]) -> None:
    server = await asyncio.start_server(
        functools.partial(_answer, delay), "127.0.0.1", 0, backlog=1024
    )
    ports.put(server.sockets[0].getsockname()[1])
    await server.serve_forever()


def serve(delay: float, ports: multiprocessing.Queue[int]) -> None:
    """Run the slow endpoints (one asyncio server, like a real service) until terminated."""
    asyncio.run(_serve(delay, ports))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--delay-ms", type=int, default=250)
    parser.add_argument("--sample", type=int, default=None, help="default: every endpoint")
    args = parser.parse_args()
    # The endpoints live in another process, as real services do: sharing this process's
    # interpreter lock would slow the server down and measure that instead.
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    process = multiprocessing.Process(target=serve, args=(args.delay_ms / 1000, ports), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{ports.get(timeout=30)}"
    checks = tuple(
        HealthCheck.of(f"endpoint-{i}", "http", {"url": f"{base}/e/{i}"})
        for i in range(args.endpoints)
    )
    settings = HealthSettings(checks)

    started = time.perf_counter()
    report = run_health("bench", settings)
    concurrent = time.perf_counter() - started
    assert all(r.status is CheckStatus.PASSED for r in report.results), report.to_dict()

    sample = args.sample or args.endpoints
    started = time.perf_counter()
    with httpx.Client() as client:
        for i in range(sample):
            client.get(f"{base}/e/{i}").raise_for_status()
    sequential = (time.perf_counter() - started) * args.endpoints / sample
    process.terminate()
    print(
        json.dumps(
            {
                "benchmark": "health_checks",
                "endpoints": args.endpoints,
                "delay_ms": args.delay_ms,
                "concurrency": settings.concurrency,
                "concurrent_s": round(concurrent, 3),
                "sequential_s": round(sequential, 1),
                "sequential_measured_on": sample,
                "speedup": round(sequential / concurrent, 1),
                "target_s": TARGET_SECONDS,
                "meets_target": concurrent < TARGET_SECONDS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
