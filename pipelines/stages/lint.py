"""The lint stage: ruff check, ruff format --check, and mypy when configured."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from pipelines.errors import ToolError
from pipelines.process import Completed, run_tool
from pipelines.reports.findings import Finding
from pipelines.stages.base import (
    READ_ONLY_SAFE_ENV,
    StageContext,
    StageResult,
    StageStatus,
    relative,
)

_MYPY_LINE = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:\d+:)? error: (?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$"
)


def run(context: StageContext) -> StageResult:
    """Run every configured linter and collect their findings with file and line."""
    settings = context.config.lint
    findings: list[Finding] = []
    tools: dict[str, str] = {}
    for tool in settings.tools:
        found = _LINTERS[tool](context)
        tools[tool] = f"{len(found)} finding(s)"
        findings.extend(found)
    status = StageStatus.FAILED if findings else StageStatus.PASSED
    summary = f"{len(findings)} finding(s) from {', '.join(settings.tools) or 'no linter'}"
    result = StageResult("lint", status, summary, findings, {"tools": tools})
    result.write(context)
    return result


def _run(context: StageContext, argv: list[str]) -> Completed:
    return run_tool(argv, cwd=context.project, env=READ_ONLY_SAFE_ENV)


def _ruff_json(context: StageContext, tool: str, argv: list[str]) -> list[Finding]:
    """Run a ruff command that prints JSON diagnostics (check and format --check both do)."""
    done = _run(context, [*argv, "--no-cache", "--output-format=json", *context.config.lint.paths])
    try:
        items = json.loads(done.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise ToolError(f"{' '.join(argv)} failed: {done.last_line()}") from exc
    return [
        Finding(
            tool=tool,
            rule=str(item.get("code") or "syntax"),
            severity="low",
            message=str(item.get("message", "")),
            file=relative(str(item.get("filename", "")), context.project),
            line=int((item.get("location") or {}).get("row", 0)),
        )
        for item in items
    ]


def _ruff(context: StageContext) -> list[Finding]:
    return _ruff_json(context, "ruff", ["ruff", "check", "--exit-zero"])


def _ruff_format(context: StageContext) -> list[Finding]:
    return _ruff_json(context, "ruff-format", ["ruff", "format", "--check"])


def _mypy(context: StageContext) -> list[Finding]:
    cache = context.reports("lint") / ".mypy_cache"
    done = _run(
        context,
        [
            "mypy",
            "--no-error-summary",
            "--no-pretty",
            "--show-error-codes",
            "--cache-dir",
            str(cache),
            *context.config.lint.paths,
        ],
    )
    findings = []
    for line in done.stdout.splitlines():
        match = _MYPY_LINE.match(line)
        if match:
            findings.append(
                Finding(
                    "mypy",
                    match["code"] or "error",
                    "low",
                    match["msg"],
                    relative(match["file"], context.project),
                    int(match["line"]),
                )
            )
    if done.returncode not in (0, 1):
        raise ToolError(f"mypy failed: {done.last_line()}")
    return findings


_LINTERS: dict[str, Callable[[StageContext], list[Finding]]] = {
    "ruff": _ruff,
    "ruff-format": _ruff_format,
    "mypy": _mypy,
}
