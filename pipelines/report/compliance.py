"""A change-management evidence pack (SOC 2 CC8.1, ISO/IEC 27001:2022 Annex A 8.32): for
every production deploy, who approved it, which gate decision allowed it, the test and
security evidence behind that decision, and whether the audit log verifies. Missing
evidence is stated, never papered over."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import msgspec

from pipelines import codec, safe_text
from pipelines.audit import Verification
from pipelines.deploy.records import ApprovalRecord
from pipelines.gate.rules import REDECIDE, GateDecision
from pipelines.layout import DECISION_ARTIFACT
from pipelines.report.dora import DEPLOYS
from pipelines.report.history import DeployEntry, History

CONTROLS = (
    "SOC 2 CC8.1: changes are authorised, tested, approved and implemented under control",
    "ISO/IEC 27001:2022 Annex A 8.32 (change management): changes follow a managed procedure",
)


@dataclass
class ChangeRecord:
    """The evidence of one production change."""

    entry: DeployEntry
    approval: str
    gate: str
    tests: str
    security: str
    audit: str
    missing: list[str] = field(default_factory=list)


def _approval(entry: DeployEntry, missing: list[str]) -> str:
    approval = entry.manifest.approval or ApprovalRecord()
    if approval.by:
        run = f", run {approval.run}" if approval.run else ""
        return f"approved by {approval.by} ({approval.via or '?'}{run})"
    if approval.required is False:
        missing.append("no approval: the environment does not require one (approval: none)")
        return "not required by the configuration"
    missing.append("no approval recorded")
    return "none recorded"


def _gate(
    entry: DeployEntry, artifacts: Path, missing: list[str]
) -> tuple[str, GateDecision | None]:
    gate = entry.manifest.gate_decision
    if gate is not None and gate.forced:
        missing.append(f"deployed with --force: {gate.reason}")
        return f"forced (reason: {gate.reason})" + _binding(entry), None
    if gate is None or not (gate.path or gate.run_id):
        missing.append("no gate decision recorded")
        return "none recorded", None
    run_id = gate.run_id
    path = artifacts / run_id / DECISION_ARTIFACT if run_id else None
    if path is None or not path.is_file():
        missing.append(f"the gate decision's run artifacts are gone ({run_id or gate.path})")
        return f"{gate.status or '?'} ({gate.path or '?'}), its artifacts are gone", None
    decision = codec.read(path, GateDecision, hint=REDECIDE)
    if not gate.commit:
        missing.append("the deploy recorded no commit or tree the gate decision judged")
    if entry.manifest.dirty:
        missing.append("the release was made from a tree with uncommitted changes")
    return f"{decision.status.value} (run {run_id})" + _binding(entry), decision


def _binding(entry: DeployEntry) -> str:
    """The commit and tree a deploy went out with, as the manifest recorded them."""
    manifest = entry.manifest
    if not manifest.tree:
        return ""
    dirty = ", uncommitted changes" if manifest.dirty else ""
    return f"; commit {manifest.commit[:12]}, tree {manifest.tree[:12]}{dirty}"


def _evidence(decision: GateDecision | None, missing: list[str]) -> tuple[str, str]:
    if decision is None:
        return "—", "—"
    tests = decision.evidence.tests
    if tests is None:
        missing.append("the gate decision holds no test results")
        test_text = "no test results"
    else:
        rate = "—" if tests.pass_rate is None else f"{tests.pass_rate:.2f}%"
        test_text = f"{tests.executed} executed, {tests.failed} failed, pass rate {rate}"
    findings = decision.evidence.findings
    if findings is None:
        missing.append("security was not scanned for this change")
        security = "not scanned"
    else:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(findings.items())) or "no findings"
        unchecked = decision.evidence.unchecked_scanners
        security = counts + (f"; not checked: {', '.join(unchecked)}" if unchecked else "")
        if unchecked:
            missing.append("scanners that could not check: " + ", ".join(unchecked))
    return test_text, security


def _audit(entry: DeployEntry, verification: Verification | None, missing: list[str]) -> str:
    head = entry.manifest.audit
    if verification is None:
        missing.append("no deploy audit log")
        return "no audit log"
    if not verification.intact:
        missing.append("the deploy audit log does not verify")
        return "does not verify: " + "; ".join(verification.problems[:2])
    if entry.manifest.audit_damage:
        missing.append(f"recorded past a damaged audit log: {entry.manifest.audit_damage}")
        return "damaged when this change was made: " + entry.manifest.audit_damage
    if not head:
        missing.append("the deploy recorded no audit entry")
        return "intact, but this deploy recorded no entry"
    return f"intact; entry {head.seq}"


def collect(
    history: History, artifacts: Path, env: str, verification: Verification | None
) -> list[ChangeRecord]:
    """The evidence of every deploy of ``env`` in ``history``."""
    records = []
    for entry in history.deploys:
        if entry.env != env or entry.action not in DEPLOYS:
            continue
        missing: list[str] = []
        approval = _approval(entry, missing)
        gate, decision = _gate(entry, artifacts, missing)
        tests, security = _evidence(decision, missing)
        audit = _audit(entry, verification, missing)
        records.append(ChangeRecord(entry, approval, gate, tests, security, audit, missing))
    return records


def _rows(record: ChangeRecord) -> list[tuple[str, str]]:
    entry = record.entry
    return [
        ("change", f"{entry.version} (commit {entry.commit[:12]}), {entry.action} {entry.run_id}"),
        ("outcome", entry.outcome + (f": {entry.reason}" if entry.reason else "")),
        ("approval", record.approval),
        ("gate decision", record.gate),
        ("tests", record.tests),
        ("security", record.security),
        ("audit log", record.audit),
        ("missing evidence", "; ".join(record.missing) or "none"),
    ]


def markdown(records: list[ChangeRecord], env: str, period: str) -> str:
    """The pack in Markdown."""
    # The environment and every value are data (a reason, an approver): never Markdown.
    lines = [f"# Change management evidence: {safe_text.markdown(env)}, {period}", ""]
    lines += [f"- {control}" for control in CONTROLS]
    complete = sum(not r.missing for r in records)
    lines += ["", f"{len(records)} changes; {complete} with complete evidence.", ""]
    if not records:
        lines.append("No deploys to this environment in the period: nothing to evidence.")
    for record in records:
        lines += [f"## {record.entry.when.isoformat(timespec='seconds')}", ""]
        lines += ["| control point | evidence |", "|---|---|"]
        lines += [f"| {k} | {safe_text.markdown(v)} |" for k, v in _rows(record)]
        lines.append("")
    return "\n".join(lines)


def html(records: list[ChangeRecord], env: str, period: str) -> str:
    """The pack as a self-contained HTML page."""
    sections = []
    for record in records:
        flagged = ' class="missing"' if record.missing else ""
        rows = "".join(
            f"<tr><th>{escape(k)}</th>"
            f"<td{flagged if k == 'missing evidence' else ''}>{escape(v)}</td></tr>"
            for k, v in _rows(record)
        )
        sections.append(
            f"<h2>{escape(record.entry.when.isoformat(timespec='seconds'))}</h2>"
            f"<table>{rows}</table>"
        )
    controls = "".join(f"<li>{escape(c)}</li>" for c in CONTROLS)
    complete = sum(not r.missing for r in records)
    body = "".join(sections) or "<p>No deploys to this environment in the period.</p>"
    style = (
        "body{font:14px/1.45 system-ui,sans-serif;max-width:820px;margin:2rem auto}"
        "th{text-align:left;padding-right:1rem;vertical-align:top}td.missing{color:#b91c1c}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Change evidence: '
        f"{escape(env)}</title><style>{style}</style></head><body>"
        f"<h1>Change management evidence: {escape(env)}, {escape(period)}</h1>"
        f"<ul>{controls}</ul><p>{len(records)} changes; {complete} with complete "
        f"evidence.</p>{body}</body></html>"
    )


class PackSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What an evidence pack holds, in counts (``report compliance --json``)."""

    changes: int
    complete: int  # changes with every piece of evidence
    missing: dict[str, list[str]]  # run id -> what its change lacks
    out: str  # the directory the pack was written to


def summary(records: list[ChangeRecord], out: Path) -> PackSummary:
    """The pack's counts."""
    return PackSummary(
        changes=len(records),
        complete=sum(not r.missing for r in records),
        missing={r.entry.run_id: list(r.missing) for r in records if r.missing},
        out=str(out),
    )
