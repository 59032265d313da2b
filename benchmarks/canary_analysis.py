"""How good the canary judge is, and how fast a real faulty canary is rolled back.

Prints JSON. Targets:
- a canary returning 30% errors is detected within 2 analysis intervals, and with 5 s
  intervals the whole drill (detect + roll back) completes in under 15 s (the original
  report's SLA was 15 minutes);
- a healthy canary is never rolled back: fewer than 1 in 100 simulated healthy analyses fail;
- the judge's power: the smallest error-rate increase and the smallest latency increase (added
  to every request) it catches in 95 of 100 simulated analyses at the configured interval and
  traffic.

Side by side, in the same run: the thresholds alone (no Mann-Whitney comparison), the
simplest judge, whose power is what the comparison adds to.

    python benchmarks/canary_analysis.py [--trials 100] [--skip-drill]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import msgspec

from pipelines import codec
from pipelines.config.deploy import AnalysisSettings, StrategyKind
from pipelines.config.pipeline import load_config
from pipelines.deploy.analysis import Sample, judge
from pipelines.deploy.drill import run_drill
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.strategies import Verdict
from pipelines.layout import Layout

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "service"
BASE_ERROR_RATE = 0.5  # percent, a healthy service's background errors
BASE_LATENCY_MS = 5.0


def _sample(rng: random.Random, n: int, error_rate: float, added_ms: float) -> Sample:
    failures = tuple(rng.random() < error_rate / 100 for _ in range(n))
    latencies = tuple(BASE_LATENCY_MS * rng.lognormvariate(0, 0.35) + added_ms for _ in range(n))
    return Sample(latencies, failures)


def _fails(settings: AnalysisSettings, trials: int, error_rate: float, added_ms: float) -> int:
    rng = random.Random(7)
    failed = 0
    for _ in range(trials):
        new = _sample(rng, settings.requests, error_rate, added_ms)
        stable = _sample(rng, settings.requests, BASE_ERROR_RATE, 0.0)
        failed += judge(new, stable, settings).verdict is Verdict.FAILED
    return failed


def _power(settings: AnalysisSettings, trials: int) -> dict[str, float | None]:
    needed = 0.95 * trials
    rates = [BASE_ERROR_RATE + step for step in (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30)]
    added = [1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 100, 250, 500, 1000, 1500]
    rate = next((r for r in rates if _fails(settings, trials, r, 0.0) >= needed), None)
    slower = next(
        (a for a in added if _fails(settings, trials, BASE_ERROR_RATE, a) >= needed), None
    )
    return {
        "error_rate_increase_points": None if rate is None else round(rate - BASE_ERROR_RATE, 2),
        "latency_increase_ms": slower,
    }


def _drill(interval: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "service"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("reports", "artifacts"))
        environ = {**os.environ, "PIPELINES_STATE_DIR": str(Path(tmp) / "state")}
        config = load_config(project)
        denv = DeployEnv.open(project, config, "staging", Layout.of(project), environ)
        analysis = msgspec.structs.replace(denv.environment.deploy.analysis, interval=interval)
        deploy = msgspec.structs.replace(denv.environment.deploy, analysis=analysis)
        denv = replace(denv, environment=replace(denv.environment, deploy=deploy))
        report = run_drill(
            denv,
            strategy=StrategyKind.CANARY,
            fault="errors",
            sla_seconds=900,
            rate=50,
            log=lambda line: None,
        )
    data = codec.to_builtins(report.file())
    timeline = report.deploy.timeline if report.deploy else None
    exposed = timeline.exposed if timeline else None
    decision = timeline.decision if timeline else None
    intervals = None
    if exposed is not None and decision is not None:
        intervals = round((decision - exposed) / interval, 2)
    return {
        "interval_seconds": interval,
        "passed": data["passed"],
        "time_to_detect_seconds": data["time_to_detect_seconds"],
        "intervals_from_first_traffic_to_decision": intervals,
        "detect_and_rollback_seconds": data["detect_and_rollback_seconds"],
        "lost_requests": data["clients"]["lost"],  # type: ignore[index]
        "target_met": bool(data["passed"])
        and intervals is not None
        and intervals <= 2
        and (data["detect_and_rollback_seconds"] or 1e9) < 15,  # type: ignore[operator]
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--skip-drill", action="store_true")
    args = parser.parse_args()
    settings = AnalysisSettings()
    thresholds_only = msgspec.structs.replace(settings, compare=False)
    healthy = 10 * args.trials
    false_positives = _fails(settings, healthy, BASE_ERROR_RATE, 0.0)
    result: dict[str, object] = {
        "benchmark": "canary analysis",
        "requests_per_pool_per_interval": settings.requests,
        "interval_seconds": settings.interval,
        "healthy_analyses": healthy,
        "healthy_analyses_failed": false_positives,
        "false_positive_rate": round(false_positives / healthy, 4),
        "power_95_of_100": _power(settings, args.trials),
        "power_95_of_100_thresholds_only": _power(thresholds_only, args.trials),
        "healthy_target_met": false_positives / healthy < 0.01,
    }
    if not args.skip_drill:
        result["drill_30_percent_errors"] = _drill(5.0)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
