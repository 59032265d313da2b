"""Flag evaluation throughput with rollout bucketing, against a bare murmur3 loop.

Prints JSON. Target: at least 200,000 evaluations per second of a flag that is rolling out
(so every evaluation computes the percentage and buckets the key).

    python benchmarks/flags_eval.py [--evaluations 500000]
"""

from __future__ import annotations

import argparse
import json
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
    args = parser.parse_args()
    flag = load_flags(EXAMPLE).flag("PHASE_4_DEPLOYMENT")
    rollout = flag.environments["production"].rollout
    assert rollout is not None
    now = rollout.start + timedelta(days=3)
    keys = [f"user-{i}" for i in range(args.evaluations)]

    started = time.perf_counter()
    enabled = sum(evaluate(flag, "production", now, key).value is True for key in keys)
    ours = time.perf_counter() - started

    started = time.perf_counter()
    for key in keys:
        mmh3.hash(f"PHASE_4_DEPLOYMENT:{key}", 0, signed=False)
    bare = time.perf_counter() - started

    rate = args.evaluations / ours
    print(
        json.dumps(
            {
                "benchmark": "flags_eval",
                "evaluations": args.evaluations,
                "evaluations_per_second": round(rate),
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
