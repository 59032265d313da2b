"""Blue-green rollback through a real nginx under steady client load.

Prints JSON. Targets: at most 0.5 s from the rollback decision until all traffic is on
stable, and zero failed requests during a healthy switch, for a client that opens a
connection per request and for one that keeps connections alive and retries an idempotent
request once when a kept-alive connection is closed before any response (as browsers and
urllib3 do). A keep-alive client that never retries is measured too, to say how many resets
it sees on each reload.

The floor, measured in the same run: the simplest switch (write the config and
``nginx -s reload``, then wait until nginx answers with it), without the check that a config
is valid and without waiting for the old workers to stop accepting connections.

    python benchmarks/deploy_rollback.py [--rate 200] [--switches 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from pipelines.config.deploy import ServiceSettings
from pipelines.deploy.instances import free_port
from pipelines.deploy.load import LoadGenerator
from pipelines.deploy.local import LocalRuntime
from pipelines.deploy.nginx import ROUTE_PATH, NginxRouter
from pipelines.deploy.target import Release, RoutedRuntime

TARGET_SECONDS = 0.5
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "service"
CLIENTS = {
    "connection-per-request": {"keepalive": False, "retry": False},
    "keep-alive-retrying-once": {"keepalive": True, "retry": True},
    "keep-alive-never-retrying": {"keepalive": True, "retry": False},
}


def _floor(target: RoutedRuntime, weights: dict[str, int]) -> float:
    """The simplest switch: render, install, reload, wait for nginx to answer with it."""
    assert isinstance(target.router, NginxRouter)
    nginx = target.router.nginx
    running = target.running()
    servers = {running[n].url.removeprefix("http://"): w for n, w in weights.items()}
    generation = nginx.current()[0] + 1
    started = time.monotonic()
    nginx.conf.write_text(nginx.render(servers, generation))
    subprocess.run([*nginx.base_argv(), "-c", str(nginx.conf), "-s", "reload"], check=True)
    url = f"http://{nginx.listen}{ROUTE_PATH}"
    while True:
        with urllib.request.urlopen(url, timeout=2) as answer:
            if json.loads(answer.read())["generation"] >= generation:
                break
    seconds = time.monotonic() - started
    (nginx.prefix / "route.json").write_text(
        json.dumps({"generation": generation, "servers": servers})
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--switches", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        service = ServiceSettings(
            command=("python", "-m", "service", "--port", "{port}"),
            env={"SERVICE_VERSION": "{version}"},
        )
        target = RoutedRuntime(
            "local",
            LocalRuntime(home=Path(tmp), service=service, env={}),
            NginxRouter(Path(tmp), f"127.0.0.1:{free_port()}"),
        )
        stable = Release("r1", "1.0.0", "bench", EXAMPLE)
        new = Release("r2", "2.0.0", "bench", EXAMPLE)
        for name, release in (("r1-0", stable), ("r1-1", stable), ("r2-0", new), ("r2-1", new)):
            target.start(name, release)
        to_stable = {"r1-0": 1, "r1-1": 1}
        to_new = {"r2-0": 1, "r2-1": 1}
        target.route(to_new)
        try:
            clients = {}
            switch_seconds: list[float] = []
            for kind, options in CLIENTS.items():
                entry = target.entrypoint() + "/"
                with LoadGenerator(entry, args.rate, **options) as load:
                    time.sleep(1.0)
                    for _ in range(args.switches):
                        switch_seconds.append(target.route(to_stable))  # the rollback
                        time.sleep(0.5)
                        target.route(to_new)
                        time.sleep(0.5)
                result = load.result
                clients[kind] = {
                    "requests": result.sent,
                    "failed": len(result.failed),
                    "reloads": 2 * args.switches,
                }
            floor = [_floor(target, to_stable if i % 2 else to_new) for i in range(10)]
        finally:
            target.shutdown()
    worst = max(switch_seconds)
    print(
        json.dumps(
            {
                "benchmark": "blue-green rollback under load",
                "rate_per_second": args.rate,
                "decision_to_all_traffic_on_stable_seconds": {
                    "median": round(statistics.median(switch_seconds), 3),
                    "max": round(worst, 3),
                    "samples": len(switch_seconds),
                },
                "floor_reload_seconds": {
                    "median": round(statistics.median(floor), 3),
                    "max": round(max(floor), 3),
                },
                "ratio_to_floor": round(
                    statistics.median(switch_seconds) / statistics.median(floor), 2
                ),
                "clients": clients,
                "target_seconds": TARGET_SECONDS,
                "target_met": worst <= TARGET_SECONDS
                and clients["connection-per-request"]["failed"] == 0
                and clients["keep-alive-retrying-once"]["failed"] == 0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
