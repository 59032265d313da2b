"""The lint stage: ruff check, ruff format --check, and mypy when configured.

Each tool runs with the project's own configuration; mypy resolves imports in the project's
environment.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence

from pipelines.commands import lint_commands
from pipelines.errors import ToolError
from pipelines.process import Completed, run_tool, show_command
from pipelines.project_facts import ProjectFacts, read_facts
from pipelines.reports.findings import Finding
from pipelines.severity import Severity
from pipelines.stages.base import (
    READ_ONLY_SAFE_ENV,
    StageContext,
    StageResult,
    StageStatus,
    project_environment,
    relative,
)
from pipelines.stages.details import LintDetails

_MYPY_LINE = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:\d+:)? error: (?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$"
)


def run(context: StageContext) -> StageResult[LintDetails]:
    """Run every configured linter and collect their findings with file and line."""
    facts = read_facts(context.project)
    python = sys.executable
    if "mypy" in (context.config.lint.tools or ()):
        env = project_environment(context)
        python = str(env.python) if env is not None else python
    findings: list[Finding] = []
    tools: dict[str, str] = {}
    unchecked: dict[str, str] = {}
    reports = str(context.layout.reports)
    for tool, argv in lint_commands(context.config, facts, python, reports).items():
        show_command(argv)
        try:
            found = _PARSERS[tool](context, argv, facts)
        except ToolError as exc:
            # A linter that could not run checked nothing: never a pass, never a finding.
            unchecked[tool] = exc.message + (f" ({exc.hint})" if exc.hint else "")
            tools[tool] = "not checked"
            continue
        tools[tool] = f"{len(found)} finding(s)"
        findings.extend(found)
    checked = [tool for tool in tools if tool not in unchecked]
    summary = f"{len(findings)} finding(s) from {', '.join(checked) or 'no linter'}"
    if unchecked:
        summary += "; not checked: " + "; ".join(f"{t}: {r}" for t, r in unchecked.items())
    if findings:
        status = StageStatus.FAILED
    elif unchecked:
        status = StageStatus.NOT_CHECKED
    else:
        status = StageStatus.PASSED
    details = LintDetails(tools, unchecked)
    result = StageResult("lint", status, summary, details, tuple(findings))
    result.write(context)
    return result


def _run(context: StageContext, argv: Sequence[str]) -> Completed:
    return run_tool(argv, cwd=context.project, env=READ_ONLY_SAFE_ENV)


def _ruff(context: StageContext, argv: Sequence[str], facts: ProjectFacts) -> list[Finding]:
    """ruff check and ruff format --check both print JSON diagnostics."""
    tool = "ruff-format" if "format" in argv else "ruff"
    done = _run(context, argv)
    try:
        items = json.loads(done.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise ToolError(f"{' '.join(argv[:3])} failed: {done.last_line()}") from exc
    findings = [
        Finding(
            tool=tool,
            rule=str(item.get("code") or "syntax"),
            severity=Severity.LOW,
            message=str(item.get("message", "")),
            file=relative(str(item.get("filename", "")), context.project),
            line=int((item.get("location") or {}).get("row", 0)),
        )
        for item in items
    ]
    if tool == "ruff-format" and not facts.ruff_includes_markdown:
        # ruff formats Markdown code blocks by default now; a project that never asked for
        # it does not format them, so they are not findings.
        findings = [f for f in findings if not f.file.endswith((".md", ".markdown"))]
    return findings


def _mypy(context: StageContext, argv: Sequence[str], _facts: ProjectFacts) -> list[Finding]:
    done = _run(context, argv)
    findings = []
    for line in done.stdout.splitlines():
        match = _MYPY_LINE.match(line)
        if match:
            findings.append(
                Finding(
                    "mypy",
                    match["code"] or "error",
                    Severity.LOW,
                    match["msg"],
                    relative(match["file"], context.project),
                    int(match["line"]),
                )
            )
    if done.returncode not in (0, 1):
        raise ToolError(f"mypy failed: {done.last_line()}")
    return findings


_PARSERS = {"ruff": _ruff, "ruff-format": _ruff, "mypy": _mypy}
