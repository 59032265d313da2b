"""What checking a stage's tracked files costs: once before and once after every stage.

Measured on this repository's own checkout (or ``--project``), each the median of several
samples:

- ``guard``: `snapshot` before plus `changed_files` after, what the runner adds to a stage;
- ``floor``: `git ls-files --stage` alone, the one listing the check cannot do without;
- ``stage``: the start of a trivial stage process (an interpreter that exits), the smallest
  cost a stage already has, to see the check against.

    python benchmarks/source_guard.py [--samples 15] [--project DIR]

Prints JSON. There is no fixed target: the guard should stay a small part of a stage.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pipelines.runners.source_guard import changed_files, snapshot

ROOT = Path(__file__).resolve().parent.parent


def _median_ms(action: Callable[[], object], samples: int) -> float:
    action()  # warm the file system cache, as a run's second stage finds it
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    """Measure and print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--project", type=Path, default=ROOT)
    args = parser.parse_args()
    project = args.project.resolve()
    before = snapshot(project)
    if before is None:
        raise SystemExit(f"{project} is not a git checkout")
    result = {
        "project": str(project),
        "tracked_files": len(before.content),
        "guard_ms": _median_ms(lambda: changed_files(snapshot(project)), args.samples),
        "floor_git_ls_files_ms": _median_ms(
            lambda: subprocess.run(
                ["git", "-C", str(project), "ls-files", "-z", "--stage"],
                capture_output=True,
                check=True,
            ),
            args.samples,
        ),
        "stage_process_ms": _median_ms(
            lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.samples
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
