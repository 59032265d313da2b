"""What each linter prints, read into findings with file and line.

A tool that exits the way it does when it crashed or could not read its configuration raises
``ToolBroke`` with its own message: its stage fails, never passes with nothing found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import ToolError
from pipelines.process import Completed
from pipelines.readers.findings import Finding
from pipelines.severity import Severity
from pipelines.stages.base import relative


class ToolBroke(ToolError):
    """The linter ran but did not finish its check (a crash, a configuration it rejects)."""


_MYPY_LINE = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:\d+:)? error: (?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$"
)
_FLAKE8_LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):\d+: (?P<code>\S+) (?P<msg>.*)$")
# "would reformat x.py" (black), "Would reformat: x.py" (older ruff), or a diagnostic that
# points at the file ("--> x.py:1:3", ruff's full output).
_WOULD_REFORMAT = re.compile(
    r"^(?:(?:Would reformat|would reformat):? (?P<file>.+?)|--> (?P<at>.+?):\d+:\d+)$"
)
_ISORT_LINE = re.compile(r"^ERROR: (?P<file>.+?) Imports are incorrectly sorted")
_PYUPGRADE_LINE = re.compile(r"^Rewriting (?P<file>.+)$")


def _broke(tool: str, done: Completed) -> ToolBroke:
    """The tool's own words: its first lines (where it names the file and the cause) and its
    last one (what exactly it could not take)."""
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip(" |^\t")]
    if not lines:
        return ToolBroke(f"{tool} failed (exit code {done.returncode}): {done.last_line()}")
    said = lines[:3] + lines[-1:] if len(lines) > 3 else lines
    text = " / ".join(said)
    return ToolBroke(f"{tool} failed (exit code {done.returncode}): {text[:400]}")


def _finding(tool: str, rule: str, message: str, where: tuple[str, int], project: Path) -> Finding:
    """A finding at ``where`` (a file as the tool printed it, and a line)."""
    file, line = where
    return Finding(tool, rule, Severity.LOW, message, relative(file, project), line)


def ruff(done: Completed, project: Path) -> list[Finding]:
    """ruff check --exit-zero --output-format=json: anything but 0 is ruff failing."""
    try:
        items = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        items = None
    if done.returncode != 0 or not isinstance(items, list):
        raise _broke("ruff", done)
    return [
        _finding(
            "ruff",
            str(item.get("code") or "syntax"),
            str(item.get("message", "")),
            (str(item.get("filename", "")), int((item.get("location") or {}).get("row", 0))),
            project,
        )
        for item in items
        if isinstance(item, dict)
    ]


def _reformat(tool: str, done: Completed, project: Path) -> list[Finding]:
    """Formatters in check mode: 0 clean, 1 "would reformat" per file, else broken."""
    if done.returncode not in (0, 1):
        raise _broke(tool, done)
    found = []
    for line in (done.stderr + "\n" + done.stdout).splitlines():
        match = _WOULD_REFORMAT.match(line.strip())
        if match:
            file = match["file"] or match["at"]
            found.append(_finding(tool, "unformatted", "would reformat", (file, 1), project))
    if done.returncode == 1 and not found:
        raise _broke(tool, done)
    return found


def ruff_format(done: Completed, project: Path) -> list[Finding]:
    """ruff format --check: exit 2 is an error of its own."""
    return _reformat("ruff-format", done, project)


def black(done: Completed, project: Path) -> list[Finding]:
    """black --check: exit 123 is an internal error."""
    return _reformat("black", done, project)


def isort(done: Completed, project: Path) -> list[Finding]:
    """isort --check-only: one ERROR line per unsorted file."""
    found = []
    for line in (done.stderr + "\n" + done.stdout).splitlines():
        match = _ISORT_LINE.match(line.strip())
        if match:
            found.append(
                _finding("isort", "unsorted", "imports are not sorted", (match["file"], 1), project)
            )
    if done.returncode not in (0, 1) or (done.returncode == 1 and not found):
        raise _broke("isort", done)
    return found


def flake8(done: Completed, project: Path) -> list[Finding]:
    """flake8 --exit-zero with a fixed format: anything but 0 is flake8 failing."""
    if done.returncode != 0:
        raise _broke("flake8", done)
    found = []
    for line in done.stdout.splitlines():
        match = _FLAKE8_LINE.match(line)
        if match:
            found.append(
                _finding(
                    "flake8",
                    match["code"],
                    match["msg"],
                    (match["file"], int(match["line"])),
                    project,
                )
            )
    return found


def mypy(done: Completed, project: Path) -> list[Finding]:
    """mypy: 0 clean, 1 errors found, 2 (or errors without a file) mypy itself failed."""
    found = []
    for line in done.stdout.splitlines():
        match = _MYPY_LINE.match(line)
        if match:
            found.append(
                _finding(
                    "mypy",
                    match["code"] or "error",
                    match["msg"],
                    (match["file"], int(match["line"])),
                    project,
                )
            )
    if done.returncode not in (0, 1) or (done.returncode == 1 and not found):
        raise _broke("mypy", done)
    return found


def pyupgrade(done: Completed, project: Path) -> list[Finding]:
    """pyupgrade (run on a copy): one "Rewriting" line per file it would change."""
    found = []
    for line in (done.stderr + "\n" + done.stdout).splitlines():
        match = _PYUPGRADE_LINE.match(line.strip())
        if match:
            found.append(
                _finding("pyupgrade", "outdated", "would rewrite", (match["file"], 1), project)
            )
    if done.returncode not in (0, 1) or (done.returncode == 1 and not found):
        raise _broke("pyupgrade", done)
    return found


PARSERS: dict[str, Callable[[Completed, Path], list[Finding]]] = {
    "ruff": ruff,
    "ruff-format": ruff_format,
    "black": black,
    "isort": isort,
    "flake8": flake8,
    "mypy": mypy,
    "pyupgrade": pyupgrade,
}
