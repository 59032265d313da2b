"""pytest-reportlog reading: which tests were rerun, and which of those finally passed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import ReportError


@dataclass(frozen=True)
class RerunSummary:
    """Node ids that had at least one ``rerun`` outcome, split by how they finally ended."""

    rerun_then_passed: frozenset[str]
    rerun_then_failed: frozenset[str]


def read_reportlog(path: Path) -> RerunSummary:
    """Stream a report-log JSON-lines file; a broken line is an error naming file and line."""
    final: dict[str, str] = {}
    rerun: set[str] = set()
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
                    raise ReportError(f"{path}:{number}", "is not a JSON record") from exc
                if not isinstance(record, dict) or record.get("$report_type") != "TestReport":
                    continue
                nodeid, outcome = record.get("nodeid"), record.get("outcome")
                if not isinstance(nodeid, str) or not isinstance(outcome, str):
                    continue
                if outcome == "rerun":
                    rerun.add(nodeid)
                elif nodeid in rerun and (record.get("when") == "call" or outcome != "passed"):
                    final[nodeid] = outcome
    except OSError as exc:
        raise ReportError(str(path), f"cannot be read: {exc.strerror}") from exc
    passed = frozenset(n for n in rerun if final.get(n) == "passed")
    return RerunSummary(rerun_then_passed=passed, rerun_then_failed=frozenset(rerun - passed))


def junit_identities(nodeid: str) -> list[tuple[str, str, str]]:
    """The (classname, name, file) identities pytest's JUnit writer gives a node id."""
    parts = nodeid.split("::")
    path = parts[0]
    module = path[:-3] if path.endswith(".py") else path
    classname = ".".join([module.replace("/", "."), *parts[1:-1]])
    name = parts[-1] if len(parts) > 1 else path
    return [(classname, name, ""), (classname, name, path)]
