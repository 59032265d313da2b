"""The annotations of a run's reports, and ``pipelines report github``, which renders the
annotations and the summary of an exported reports directory (what the Dagger module's
``annotations`` and ``summary`` functions print)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

import msgspec
from rich.console import Console

from pipelines import codec, containment
from pipelines.cli.common import project_config, project_layout
from pipelines.cli.guard import emit
from pipelines.codec import DamagedFile
from pipelines.errors import EXIT_OK, PipelineError
from pipelines.gate.rules import GateDecision
from pipelines.layout import DECISION, RESULT, Layout, logical
from pipelines.readers.findings import Finding
from pipelines.report import github
from pipelines.report.summary import markdown, of_decision
from pipelines.report.workflow_commands import in_github_actions, neutralise
from pipelines.stages.base import decode_result

REPORT_LIMIT = 64 * 1024 * 1024  # a result.json or decision.json is a few kilobytes


def _report(layout: Layout, stage: str, name: str) -> bytes | None:
    """A stage's report, read without following a link a stage left (a host file is never
    published), bounded; None when it is not there. Refused: a link, a FIFO, a device."""
    try:
        with containment.open_regular(layout.reports, f"{stage}/{name}") as handle:
            return handle.read(REPORT_LIMIT)
    except (FileNotFoundError, NotADirectoryError):
        return None


def run_annotations(layout: Layout, stages: list[str]) -> list[github.Annotation]:
    """The annotations of a run's reports: the gate's failing tests and reasons, then every
    stage's findings at their location. A report that cannot be read is one warning."""
    found: list[github.Annotation] = []
    decision_path = layout.report(logical("gate", DECISION))
    try:
        raw = _report(layout, "gate", DECISION)
        if raw is not None:
            decision = codec.decode(raw, GateDecision, str(decision_path))
            found += github.decision_annotations(decision)
    except OSError as exc:  # a link, FIFO or device there is Refused
        found.append(github.Annotation("warning", f"{decision_path}: {exc.strerror or exc}"))
    except DamagedFile as exc:
        found.append(github.Annotation("warning", f"unreadable: {exc.message}"))
    findings: list[Finding] = []
    for name in stages:
        path = layout.stage(name) / RESULT
        try:
            raw = _report(layout, name, RESULT)
            if raw is not None:
                findings += decode_result(raw, str(path), msgspec.Raw).findings
        except containment.Refused as exc:
            found.append(github.Annotation("warning", f"{path}: {exc.strerror}", name))
        except OSError as exc:
            found.append(github.Annotation("warning", f"{path}: unreadable ({exc})", name))
        except PipelineError as exc:
            found.append(github.Annotation("warning", exc.message, name))
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    findings.sort(key=lambda f: order.get(f.severity.value, 4))
    return found + github.finding_annotations(findings)


def reported_stages(layout: Layout) -> list[str]:
    """The stages with a directory in the reports, in name order."""
    if not layout.reports.is_dir():
        return []
    return sorted(
        entry.name
        for entry in layout.reports.iterdir()
        if entry.is_dir() and not entry.is_symlink() and (entry / RESULT).exists()
    )


def report_github(args: argparse.Namespace, out: Console) -> int:
    """``pipelines report github``: an exported run's annotations (or ``--summary``: its
    Markdown summary), for a CI step that has the reports but ran the stages elsewhere."""
    config = project_config(args)
    layout = project_layout(args, config)
    if args.summary:
        decision_path = layout.report(logical("gate", DECISION))
        try:
            raw = _report(layout, "gate", DECISION)
            if raw is None:
                raise DamagedFile(f"{decision_path}: not there")
            text = markdown(of_decision(codec.decode(raw, GateDecision, str(decision_path))))
        except OSError as exc:  # a link, FIFO or device there is Refused
            text = f"No gate decision in the reports ({decision_path}: {exc.strerror or exc}).\n"
        except DamagedFile as exc:
            text = f"No gate decision in the reports ({exc.message}).\n"
        # The summary is also echoed to the log by CI steps that capture it.
        out.print(neutralise(text), highlight=False, markup=False, end="")
        return EXIT_OK
    # Rendered for GitHub wherever this runs (the Dagger module runs it in a container).
    lines = github.capped(run_annotations(layout, reported_stages(layout)))
    if in_github_actions(os.environ):
        emit(lines)
    else:
        for line in lines:
            print(line)
    return EXIT_OK


def publish_run(layout: Layout, stages: list[str], environ: Mapping[str, str]) -> None:
    """After ``pipelines run`` under GitHub Actions: its annotations, printed after its
    output, and the gate's summary and outputs in the step's files. Written here, not by the
    gate stage: no stage is given GitHub's command files (child_env)."""
    if not in_github_actions(environ):
        return
    emit(github.capped(run_annotations(layout, stages)))
    if "gate" in stages:
        try:
            raw = _report(layout, "gate", DECISION)
            decision = codec.decode(raw, GateDecision, "") if raw is not None else None
        except (OSError, DamagedFile):
            decision = None  # run_annotations warned about it
        if decision is not None:
            github.write_files(decision, environ)
