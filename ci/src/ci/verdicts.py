"""What the module's exported files say, and the verdict on them: ``pipeline.json`` (each
stage's outcome, written by ``ci``) and ``outcome.json`` (a deploy's, rollback's or drill's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagger
from dagger import dag

SUMMARY = "pipeline.json"
OUTCOME = "outcome.json"
OUTPUT_TAIL = 20000  # characters of a command's output kept in outcome.json


class DeployFailedError(Exception):
    """A deploy was rolled back or refused, or a drill failed."""


class GateClosedError(Exception):
    """The gate decided that the deploy may not proceed."""


class StageFailedError(Exception):
    """A stage failed although the gate did not say so (the gate may be disabled)."""


class DeployRefusedError(Exception):
    """A deploy this module cannot run: what it starts would die with the exec."""


def judge(summary: Mapping[str, Any], decision: Mapping[str, Any] | None) -> str:
    """The verdict on an exported run: raise on a closed gate or a stage that did not pass."""
    if "exit_code" in summary:  # a deploy, rollback or drill (outcome.json)
        if summary["exit_code"] != 0:
            raise DeployFailedError(
                f"{summary['command']} failed (exit {summary['exit_code']}): "
                + summary.get("output", "")[-2000:]
            )
        return f"{summary['command']} succeeded"
    stages: Mapping[str, Any] = summary["stages"]
    if decision is not None:
        reasons = "; ".join(decision.get("reasons", [])) or "see gate/decision.json"
        raise GateClosedError(
            f"gate {decision.get('status', 'closed')} ({summary['env']}): {reasons}"
        )
    failed = [
        name + (f" ({outcome['message']})" if outcome.get("message") else "")
        for name, outcome in stages.items()
        if outcome["status"] != "passed"
    ]
    if failed:
        raise StageFailedError("stages that did not pass: " + ", ".join(failed))
    return f"{len(stages)} stage(s) passed ({summary['env']})"


def failed_reports(error: dagger.ExecError) -> dagger.Directory:
    """What is left of a stage whose command the engine reports as failed: its exit code and
    the tail of its output, as the stage's log."""
    output = (error.stdout + "\n" + error.stderr).strip().splitlines()[-200:]
    text = f"exit code {error.exit_code}: {error.message}\n" + "\n".join(output) + "\n"
    return dag.directory().with_new_file("log.txt", text)


def outcome_record(command: str, exit_code: int, output: str) -> dict[str, Any]:
    """The content of ``outcome.json``."""
    return {"command": command, "exit_code": exit_code, "output": output[-OUTPUT_TAIL:]}
