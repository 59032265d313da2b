"""Start-up of a `pipelines stage` process, and the cost of reading pipeline.yaml.

Every stage runs in its own `pipelines stage NAME` process, so its start-up is paid once per
stage per run. Measured here, each as the median of several samples:

- ``process``: a fresh interpreter that imports the stage command and loads the example's
  pipeline.yaml (what `pipelines stage` does before its tool starts), against the honest floor
  of a fresh interpreter that only parses the same file with PyYAML, and a bare interpreter;
- ``load``: `load_config` in a warm process (parse, check against the declared types, merge),
  against `yaml.safe_load` of the same text (parsing alone, no checking).

    python benchmarks/stage_startup.py [--samples 15] [--loads 300]

Prints JSON. Target: a stage process takes at most twice its floor (medians, measured side by
side in the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pipelines.config.pipeline import load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "service"
STAGE = (
    "import pipelines.cli.stage_cmd\n"
    "from pathlib import Path\n"
    "from pipelines.config.pipeline import load_config\n"
    f"load_config(Path({str(EXAMPLE)!r}))\n"
)
FLOOR = f"import yaml\nyaml.safe_load(open({str(EXAMPLE / 'pipeline.yaml')!r}).read())\n"


TARGET_RATIO = 2.0


def _process_ms(code: str, samples: int) -> list[float]:
    # Byte code is written once first, as an installed package has it.
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", code], check=True, env=environ)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=environ)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _load_ms(loads: int) -> tuple[float, float]:
    text = (EXAMPLE / "pipeline.yaml").read_text()
    started = time.perf_counter()
    for _ in range(loads):
        load_config(EXAMPLE)
    ours = (time.perf_counter() - started) * 1000 / loads
    started = time.perf_counter()
    for _ in range(loads):
        yaml.safe_load(text)
    floor = (time.perf_counter() - started) * 1000 / loads
    return ours, floor


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--loads", type=int, default=300)
    args = parser.parse_args()
    stage = _process_ms(STAGE, args.samples)
    floor = _process_ms(FLOOR, args.samples)
    bare = _process_ms("pass", args.samples)
    load, parse = _load_ms(args.loads)
    ratio = statistics.median(stage) / statistics.median(floor)
    print(
        json.dumps(
            {
                "process": {
                    "stage_command": _summary(stage),
                    "floor_yaml_only": _summary(floor),
                    "bare_interpreter": _summary(bare),
                    "above_floor_ms": round(statistics.median(stage) - statistics.median(floor), 1),
                    "ratio_to_floor": round(ratio, 2),
                    "target_ratio": TARGET_RATIO,
                    "meets_target": ratio <= TARGET_RATIO,
                },
                "load": {
                    "load_config_ms": round(load, 3),
                    "floor_yaml_safe_load_ms": round(parse, 3),
                    "ratio": round(load / parse, 2),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
