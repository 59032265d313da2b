"""The lint stage: the project's own linters and formatters, at the versions it pins, each in
check-only mode with the project's own configuration and arguments.

Each tool comes from a cached tool environment (``tool_env``). A tool that cannot be installed
checked nothing: the stage is "not checked". A tool that crashes or rejects its configuration
fails the stage with its own message. Nothing a stage runs rewrites the project's files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipelines.errors import ToolError
from pipelines.process import Completed, run_tool, show_command
from pipelines.project.commands import (
    ALWAYS_EXCLUDED,
    FILES,
    lint_argv,
    lint_tools,
    mypy_has_targets,
)
from pipelines.project.facts import ProjectFacts, read_facts
from pipelines.project.linters import DeclaredTool
from pipelines.project.tool_env import tool_bin
from pipelines.readers.findings import Finding
from pipelines.stages.base import (
    READ_ONLY_SAFE_ENV,
    StageContext,
    StageResult,
    StageStatus,
    project_environment,
)
from pipelines.stages.details import LintDetails
from pipelines.stages.lint_output import PARSERS, ToolBroke

PYTHON_SUFFIXES = (".py", ".pyi")


def run(context: StageContext) -> StageResult[LintDetails]:
    """Run every linter the project uses and collect their findings with file and line."""
    facts = read_facts(context.project)
    tools = lint_tools(context.config, facts)
    python = "python"
    if any(t.name == "mypy" and not t.pre_commit for t in tools):
        env = project_environment(context)
        python = str(env.python) if env is not None else python
    findings: list[Finding] = []
    outcomes: dict[str, str] = {}
    unchecked: dict[str, str] = {}
    broken: dict[str, str] = {}
    for tool in tools:
        argv = lint_argv(tool, context.config, facts, python, str(context.layout.reports))
        show_command(argv, why=tool.describe())
        try:
            found = _check(context, tool, argv, facts)
        except ToolBroke as exc:
            print(exc.message, flush=True)
            broken[tool.name] = exc.message
            outcomes[tool.name] = "failed to run"
            continue
        except ToolError as exc:
            # A linter that could not run checked nothing: never a pass, never a finding.
            unchecked[tool.name] = exc.message + (f" ({exc.hint})" if exc.hint else "")
            outcomes[tool.name] = "not checked"
            continue
        outcomes[tool.name] = f"{len(found)} finding(s)"
        findings.extend(found)
    result = _result(findings, outcomes, unchecked, broken)
    result.write(context)
    return result


def _result(
    findings: list[Finding],
    outcomes: dict[str, str],
    unchecked: dict[str, str],
    broken: dict[str, str],
) -> StageResult[LintDetails]:
    checked = [tool for tool in outcomes if tool not in unchecked and tool not in broken]
    summary = f"{len(findings)} finding(s) from {', '.join(checked) or 'no linter'}"
    if broken:
        ran = [summary] if checked else []
        summary = "; ".join([*broken.values(), *ran])
    if unchecked:
        summary += "; not checked: " + "; ".join(f"{t}: {r}" for t, r in unchecked.items())
    if findings or broken:
        status = StageStatus.FAILED
    elif unchecked or not checked:
        status = StageStatus.NOT_CHECKED
    else:
        status = StageStatus.PASSED
    details = LintDetails(outcomes, {**unchecked, **broken})
    return StageResult("lint", status, summary, details, tuple(findings))


def _check(
    context: StageContext, tool: DeclaredTool, argv: list[str], facts: ProjectFacts
) -> list[Finding]:
    if tool.name == "mypy" and not mypy_has_targets(tool, context.config, facts):
        raise ToolError(
            "mypy has nothing to check",
            hint="name its files in [tool.mypy] files (or lint.paths in pipeline.yaml)",
        )
    bin_dir = tool_bin(tool, context.environ)
    executable = bin_dir / argv[0]
    if not executable.is_file():
        raise ToolError(f"{argv[0]} is not installed in {bin_dir}")
    if FILES in argv:
        files = hook_files(context.project, tool)
        if not files:
            return []  # pre-commit skips a hook that matches no file
        at = argv.index(FILES)
        argv = [*argv[:at], *files, *argv[at + 1 :]]
    argv = [str(executable), *argv[1:]]
    if tool.name == "pyupgrade":
        return PARSERS[tool.name](_on_a_copy(context.project, argv), context.project)
    done = run_tool(argv, cwd=context.project, env=READ_ONLY_SAFE_ENV)
    findings = PARSERS[tool.name](done, context.project)
    if tool.name == "ruff-format" and not facts.ruff_includes_markdown:
        # ruff formats Markdown code blocks by default now; a project that never asked for
        # it does not format them, so they are not findings.
        findings = [f for f in findings if not f.file.endswith((".md", ".markdown"))]
    return findings


def _on_a_copy(project: Path, argv: Sequence[str]) -> Completed:
    """pyupgrade has no check mode: it rewrites a copy of the files it is given."""
    with tempfile.TemporaryDirectory(prefix="pipelines-pyupgrade-") as scratch:
        for name in argv[1:]:
            source = project / name
            if name.startswith("-") or source.is_symlink() or not source.is_file():
                continue
            target = Path(scratch) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return run_tool(argv, cwd=Path(scratch), env=READ_ONLY_SAFE_ENV)


def hook_files(project: Path, tool: DeclaredTool) -> list[str]:
    """The Python files a pre-commit hook would be given: the tracked ones (every file
    outside generated trees when there is no git), through the hook's include and exclude
    patterns. Links are never followed."""
    names = _tracked(project)
    if names is None:
        names = _walk(project)
    include = re.compile(tool.files or "")
    exclude = re.compile(tool.exclude) if tool.exclude else None
    return sorted(
        name
        for name in names
        if name.endswith(PYTHON_SUFFIXES)
        and include.search(name)
        and not (exclude and exclude.search(name))
        and not (project / name).is_symlink()
        and (project / name).is_file()
    )


def _tracked(project: Path) -> list[str] | None:
    if not (project / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        done = run_tool(["git", "ls-files", "-z"], cwd=project)
    except (ToolError, subprocess.SubprocessError, OSError):
        return None
    if done.returncode != 0:
        return None
    return [name for name in done.stdout.split("\0") if name]


def _walk(project: Path) -> list[str]:
    found = []
    pending = [project]
    while pending:
        directory = pending.pop()
        for entry in directory.iterdir():
            if entry.is_symlink() or entry.name in ALWAYS_EXCLUDED:
                continue
            if entry.is_dir():
                pending.append(entry)
            elif entry.is_file():
                found.append(str(entry.relative_to(project)))
    return found
