"""Flag evaluation throughput with rollout bucketing, against a bare murmur3 loop.

Prints JSON. Target: at least 200,000 evaluations per second of a flag that is rolling out
(so every evaluation computes the percentage and buckets the key).

    python benchmarks/flags_eval.py [--evaluations 500000] [--samples 5]

The rate is the median of the samples; their spread is printed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mmh3

from pipelines.flags.evaluate import evaluate
from pipelines.flags.model import load_flags

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "service" / "flags.yaml"
TARGET_PER_SECOND = 200_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=500_000)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    flag = load_flags(EXAMPLE).flag("PHASE_4_DEPLOYMENT")
    rollout = flag.environments["production"].rollout
    assert rollout is not None
    now = rollout.start + timedelta(days=3)
    keys = [f"user-{i}" for i in range(args.evaluations)]

    samples: list[float] = []
    bares: list[float] = []
    enabled = 0
    for _ in range(args.samples):  # interleaved, so machine drift hits both alike
        started = time.perf_counter()
        enabled = sum(evaluate(flag, "production", now, key).value is True for key in keys)
        samples.append(time.perf_counter() - started)
        started = time.perf_counter()
        for key in keys:
            mmh3.hash(f"PHASE_4_DEPLOYMENT:{key}", 0, signed=False)
        bares.append(time.perf_counter() - started)
    ours, bare = statistics.median(samples), statistics.median(bares)
    rate = args.evaluations / ours
    print(
        json.dumps(
            {
                "benchmark": "flags_eval",
                "evaluations": args.evaluations,
                "evaluations_per_second": round(rate),
                "samples": args.samples,
                "per_second_min_median_max": [
                    round(args.evaluations / max(samples)),
                    round(rate),
                    round(args.evaluations / min(samples)),
                ],
                "bare_murmur3_per_second": round(args.evaluations / bare),
                "ratio_to_bare_hash": round(ours / bare, 2),
                "share_enabled_at_day_3": round(enabled / args.evaluations, 4),
                "target_per_second": TARGET_PER_SECOND,
                "meets_target": rate >= TARGET_PER_SECOND,
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
