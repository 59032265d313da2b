"""Running external tools: argv lists only, with their failures translated to our errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import ToolError


class ToolNotFound(ToolError):
    """The tool is not installed (not on PATH)."""


class ToolTimeout(ToolError):
    """The tool ran longer than it was allowed to."""


@dataclass(frozen=True)
class Completed:
    """What a finished tool left behind."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    def last_line(self) -> str:
        """The last non-empty line of stderr (or stdout): usually the tool's own explanation."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1][:300]
        return f"exit code {self.returncode}"


def tool_path(path: str) -> str:
    """PATH with this interpreter's directory first, so tools of its virtualenv are found."""
    bin_dir = str(Path(sys.executable).parent)
    return os.pathsep.join([bin_dir, path])


def python_command(argv: Sequence[str]) -> list[str]:
    """Run a bare ``python`` as this interpreter, which has the stage tools installed."""
    if argv and argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    return list(argv)


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
) -> Completed:
    """Run ``argv`` in ``cwd``; without ``capture`` its output goes straight to ours."""
    merged = {**os.environ, **(env or {})}
    merged["PATH"] = tool_path(merged.get("PATH", os.defpath))
    started = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=merged,
            timeout=timeout,
            capture_output=capture,
            text=True,
            errors="replace",
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolNotFound(
            f"{argv[0]}: not found on PATH",
            hint=f"install it (pip install {argv[0]}) or use the toolchain image",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolTimeout(f"{argv[0]}: still running after {timeout:g} s, stopped") from exc
    return Completed(
        tuple(argv),
        proc.returncode,
        proc.stdout or "",
        proc.stderr or "",
        time.monotonic() - started,
    )
