"""Whatever replaces any value of a JSON file the SDK reads back (a gate decision, a run
manifest, a stage's result.json, a benchmark file, a comparison), the command reading it
answers with a clear outcome (0, 1 or 2), never an internal error (exit 3).

To cover another file, add a ``ReadBack`` to ``FILES``: a valid sample, where it is written in
a project, and the command that reads it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pipelines.cli import main
from pipelines.errors import EXIT_INTERNAL
from pipelines.stages.base import StageResult, StageStatus
from pipelines.stages.details import ScannerRecord, SecurityDetails
from tests.unit.test_github import decision
from tests.unit.test_reports_history import _benchmark_file, _samples

# A value of every JSON kind, the awkward ones included (NaN and Infinity are what Python's
# json module writes for non-finite floats).
VALUES: list[Any] = [None, True, -1, 1.5, float("nan"), float("inf"), "", "x", [], [{}], {}]
VALUES += [{"a": 1}]
Path_ = list[str | int]
RUN_ID = "20261201T000000000Z-abcdef"


@dataclass(frozen=True)
class ReadBack:
    """A JSON file the SDK reads back, and how to make a command read it."""

    name: str
    sample: Callable[[Path], Any]
    # Where, relative to the project, the file goes.
    where: str
    argv: Callable[[Path], list[str]]
    # Other files the reading command needs, written before the sample.
    setup: Callable[[Path], None] = lambda _project: None


def _manifest(_tmp: Path) -> dict[str, Any]:
    return {
        "run_id": RUN_ID,
        "env": "ci",
        "commit": "c1",
        "timestamp": "2026-12-01T00:00:00+00:00",
        "status": "passed",
        "duration_seconds": 5.0,
        "pipeline": "shop",
        "runner": "local",
        "stages": [{"name": "test", "status": "passed", "duration_seconds": 3.0, "started": 1.0}],
        "artifacts": {"gate-decision.json": "reports/gate/decision.json"},
    }


def _security(_tmp: Path) -> Any:
    details = SecurityDetails(
        scanners={"bandit": ScannerRecord("passed", 1)}, by_severity={"high": 1}, unchecked={}
    )
    return msgspec.to_builtins(StageResult("security", StageStatus.PASSED, "ok", details))


def _comparison(_tmp: Path) -> dict[str, Any]:
    return {
        "baseline": "a.json",
        "candidate": "b.json",
        "alpha": 0.01,
        "min_effect_percent": 5.0,
        "max_slowdown_percent": 10.0,
        "benchmarks": [],
        "slowdowns": {"t": 3.5},
        "over_limit": {},
    }


def _benchmarks(tmp: Path) -> Any:
    return json.loads(_benchmark_file(tmp / "sample.json", _samples(1, 1e-3, n=3)).read_text())


def _good_run(project: Path) -> None:
    run = project / "artifacts" / RUN_ID
    run.mkdir(parents=True, exist_ok=True)
    (run / "run-manifest.json").write_text(json.dumps(_manifest(project)))
    (run / "gate-decision.json").write_text(json.dumps(decision(1)))


def _candidate(project: Path) -> None:
    _benchmark_file(project / "candidate.json", _samples(2, 1e-3, n=3))


def _summary(project: Path) -> list[str]:
    return ["report", "summary", "-C", str(project)]


def _gate(project: Path) -> list[str]:
    return ["gate", "-C", str(project), "--json"]


FILES = [
    ReadBack(
        "gate decision",
        lambda _t: decision(1),
        f"artifacts/{RUN_ID}/gate-decision.json",
        _summary,
        _good_run,
    ),
    ReadBack(
        "gate decision in reports",
        lambda _t: decision(1),
        "reports/gate/decision.json",
        lambda p: ["metrics", "-C", str(p)],
    ),
    ReadBack(
        "run manifest", _manifest, f"artifacts/{RUN_ID}/run-manifest.json", _summary, _good_run
    ),
    ReadBack(
        "run manifest (dora)",
        _manifest,
        f"artifacts/{RUN_ID}/run-manifest.json",
        lambda p: ["report", "dora", "-C", str(p), "--env", "ci"],
        _good_run,
    ),
    ReadBack("security result.json", _security, "reports/security/result.json", _gate),
    ReadBack("perf comparison", _comparison, "reports/perf/comparison.json", _gate),
    ReadBack(
        "benchmark file",
        _benchmarks,
        "baseline.json",
        lambda p: [
            "perf",
            "compare",
            "-C",
            str(p),
            "--baseline",
            str(p / "baseline.json"),
            "--candidate",
            str(p / "candidate.json"),
        ],
        _candidate,
    ),
]


def _nodes(data: Any, prefix: Path_ | None = None) -> Iterator[tuple[Path_, Any]]:
    prefix = prefix or []
    yield prefix, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _nodes(value, [*prefix, key])
    elif isinstance(data, list):
        # The entries of a list share one shape: the first two stand for the rest.
        for index, value in enumerate(data[:2]):
            yield from _nodes(value, [*prefix, index])


def _replaced(data: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(data)
    node = copied
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copied


@pytest.mark.parametrize("read_back", FILES, ids=[f.name for f in FILES])
def test_any_value_replaced_gives_a_clear_outcome(
    read_back: ReadBack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text("version: 1\n")
    read_back.setup(project)
    sample = read_back.sample(tmp_path)
    target = project / read_back.where
    target.parent.mkdir(parents=True, exist_ok=True)
    internal = []
    for path, _ in list(_nodes(sample)):
        for value in VALUES:
            target.write_text(json.dumps(_replaced(sample, path, value)))
            code = main(read_back.argv(project))
            capsys.readouterr()
            if code == EXIT_INTERNAL:
                internal.append((path, value))
    assert internal == [], f"{read_back.name}: internal errors for {internal[:5]}"


# Deeper than any parser's recursion allows: json and msgspec raise RecursionError on it.
NESTED = "[" * 200_000 + "]" * 200_000
# Readers a stage's files reach besides the commands above: the annotations of an exported
# reports directory, the deploy's gate check.
NESTED_READERS = [
    *FILES,
    ReadBack(
        "security result.json (annotations)",
        _security,
        "reports/security/result.json",
        lambda p: ["report", "github", "-C", str(p)],
    ),
    ReadBack(
        "gate decision (annotations)",
        lambda _t: decision(1),
        "reports/gate/decision.json",
        lambda p: ["report", "github", "-C", str(p)],
    ),
    ReadBack(
        "gate decision (summary)",
        lambda _t: decision(1),
        "reports/gate/decision.json",
        lambda p: ["report", "github", "--summary", "-C", str(p)],
    ),
]


@pytest.mark.parametrize("read_back", NESTED_READERS, ids=[f.name for f in NESTED_READERS])
def test_a_deeply_nested_file_gives_a_clear_outcome(
    read_back: ReadBack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text("version: 1\n")
    read_back.setup(project)
    target = project / read_back.where
    target.parent.mkdir(parents=True, exist_ok=True)
    sample = read_back.sample(tmp_path)
    # The whole file, and the value of its first key (past the shape checks of the top).
    inner = json.dumps({next(iter(sample)): None}).replace("null", NESTED)
    for text in (NESTED, inner):
        target.write_text(text)
        code = main(read_back.argv(project))
        capsys.readouterr()
        assert code != EXIT_INTERNAL, read_back.name
