"""Gate reading speed and memory on synthetic JUnit files, against two bare lxml passes.

Prints JSON. Two baselines, measured in the same run:
- the honest floor: a bare lxml *parser target* (the same API the gate's reader uses, no tree
  at all) that only counts test cases and outcome elements;
- a bare ``lxml.etree.iterparse`` pass that builds and clears elements (what a simple reader
  would write).
Targets: read time <= 1.5x the iterparse pass (reported beside the ratio to the floor), and peak
RSS under 100 MB at 1,000,000 cases (so the reader must stream).

    python benchmarks/gate_junit.py [--cases 100000 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

from pipelines.readers.junit import read_junit

TARGET_RATIO = 1.5
TARGET_PEAK_MB = 100.0


def generate(path: Path, cases: int) -> None:
    """A pytest-like report: 1% skipped, 0.1% failing, 0.5% flaky (rerun records)."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="pytest">')
        for i in range(cases):
            cls = f"tests.test_module_{i // 100}.TestGroup{i % 7}"
            name = f"test_case_{i}"
            head = f'<testcase classname="{cls}" name="{name}" time="0.001"'
            if i % 1000 == 1:
                out.write(
                    f'{head}/>{head}/>{head}><failure message="assert 1 == 2">'
                    "def test():\n&gt; assert 1 == 2</failure></testcase>"
                )
            elif i % 200 == 3:
                out.write(f"{head}/>{head}/>")
            elif i % 100 == 5:
                out.write(f'{head}><skipped message="not here"/></testcase>')
            else:
                out.write(f"{head}/>")
        out.write("</testsuite></testsuites>\n")


def bare_pass(path: Path) -> dict[str, int]:
    """The baseline: count outcome elements with lxml and nothing else."""
    counts = {"testcase": 0, "failure": 0, "error": 0, "skipped": 0}
    for _event, element in etree.iterparse(str(path), events=("end",), tag="{*}testcase"):
        counts["testcase"] += 1
        for child in element:
            tag = child.tag
            if isinstance(tag, str) and tag in counts:
                counts[tag] += 1
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
    return counts


class _CountingTarget:
    """A parser target that only counts: the least work any reader of these files does."""

    def __init__(self) -> None:
        self.counts = {"testcase": 0, "failure": 0, "error": 0, "skipped": 0}

    def start(self, tag: str, _attrib: dict[str, str]) -> None:
        if tag in self.counts:
            self.counts[tag] += 1

    def close(self) -> dict[str, int]:
        return self.counts


def bare_target(path: Path) -> dict[str, int]:
    """The honest floor: lxml's parser feeding a target that counts elements."""
    parser = etree.XMLParser(target=_CountingTarget(), resolve_entities=False, no_network=True)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            parser.feed(chunk)
    counts: dict[str, int] = parser.close()
    return counts


def ours(path: Path) -> dict[str, int]:
    """The gate's reader."""
    summary = read_junit([path])
    return {"passed": summary.passed, "failed": summary.failed, "flaky": summary.flaky}


def interleaved_best(repeat: int, path: Path) -> tuple[float, float, float]:
    """Best times of the floor, the iterparse pass and ours, run alternately so drift hits all
    alike."""
    floor: list[float] = []
    bare: list[float] = []
    mine: list[float] = []
    for _ in range(repeat):
        for func, timings in ((bare_target, floor), (bare_pass, bare), (ours, mine)):
            started = time.perf_counter()
            func(path)
            timings.append(time.perf_counter() - started)
    return min(floor), min(bare), min(mine)


def peak_rss_mb(which: str, path: Path) -> float:
    """Peak RSS of a fresh process that imports what it needs and reads ``path``."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
    code = (
        "import pathlib, sys\n"
        "sys.path.insert(0, sys.argv[3])\n"
        "from benchmarks.gate_junit import bare_pass, ours\n"
        "work = {'bare': bare_pass, 'ours': ours, 'none': lambda p: None}[sys.argv[1]]\n"
        "work(pathlib.Path(sys.argv[2]))\n"
        "status = pathlib.Path('/proc/self/status').read_text()\n"
        "print(next(l.split()[1] for l in status.splitlines() if l.startswith('VmHWM')))\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code, which, str(path), root],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for cases in args.cases:
            path = Path(tmp) / f"junit-{cases}.xml"
            generate(path, cases)
            floor, bare, mine = interleaved_best(args.repeat, path)
            peak = peak_rss_mb("ours", path)
            results.append(
                {
                    "cases": cases,
                    "file_mb": round(path.stat().st_size / 1e6, 1),
                    "bare_parser_target_s": round(floor, 3),
                    "bare_iterparse_s": round(bare, 3),
                    "gate_reader_s": round(mine, 3),
                    "ratio_to_parser_target": round(mine / floor, 3),
                    "ratio": round(mine / bare, 3),
                    "target_ratio": TARGET_RATIO,
                    "peak_rss_mb": round(peak, 1),
                    "peak_rss_bare_iterparse_mb": round(peak_rss_mb("bare", path), 1),
                    "rss_of_interpreter_and_imports_mb": round(peak_rss_mb("none", path), 1),
                    "target_peak_mb": TARGET_PEAK_MB,
                    "counts": ours(path),
                    "meets_targets": mine / bare <= TARGET_RATIO and peak < TARGET_PEAK_MB,
                }
            )
            path.unlink()
    print(json.dumps({"benchmark": "gate_junit", "results": results}, indent=2))


if __name__ == "__main__":
    main()
