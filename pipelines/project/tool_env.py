"""Cached environments of the project's own linters, one per tool, version and extra
dependencies, kept under the SDK's cache directory (never in the checkout).

A tool at the version the SDK itself carries, with nothing extra, runs from the SDK's own
environment: nothing to install.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from pipelines import atomic
from pipelines.digest import sha256
from pipelines.errors import ToolError
from pipelines.layout import cache_root
from pipelines.process import run_tool, tool_path
from pipelines.project.environment import explain, installer, locked
from pipelines.project.linters import DeclaredTool, sdk_version

READY = ".pipelines-tool-ready.json"
INSTALL_TIMEOUT = 600.0


class ToolUnavailable(ToolError):
    """The tool could not be installed at the version the project asks for."""


def requirements(tool: DeclaredTool) -> list[str]:
    """What the tool's environment holds: the tool at its version, then its extras."""
    pinned = f"{tool.package}=={tool.version}" if tool.version else tool.package
    return [pinned, *tool.extra]


def location(tool: DeclaredTool, environ: Mapping[str, str]) -> Path:
    """Where the environment of ``tool`` lives, keyed by what it holds."""
    spec = {"install": requirements(tool), "python": [sys.version, sys.executable]}
    digest = sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root(environ) / "tools" / f"{tool.package}-{tool.version or 'latest'}-{digest}"


def tool_bin(tool: DeclaredTool, environ: Mapping[str, str]) -> Path:
    """The directory holding the tool's executable, installed now unless it is cached."""
    if not tool.extra and tool.version == sdk_version(tool.package):
        own = Path(sys.executable).parent
        if (own / _executable(tool)).is_file():
            return own
    path = location(tool, environ)
    with locked(path):
        if not (path / READY).is_file():
            shutil.rmtree(path, ignore_errors=True)
            try:
                _build(tool, path, environ)
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            atomic.write_json(path / READY, {"install": requirements(tool)})
    return path / "bin"


def _executable(tool: DeclaredTool) -> str:
    return "ruff" if tool.name == "ruff-format" else tool.name


def _build(tool: DeclaredTool, path: Path, environ: Mapping[str, str]) -> None:
    env = {**environ, "PATH": tool_path(environ.get("PATH", os.defpath))}
    # The tool environment uses this machine's interpreter, never one uv would download.
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    python = str(path / "bin" / "python")
    if installer(env["PATH"]) == "uv":
        steps = [
            ["uv", "venv", "--quiet", "--python", sys.executable, str(path)],
            ["uv", "pip", "install", "--quiet", "--python", python, *requirements(tool)],
        ]
    else:
        steps = [
            [sys.executable, "-m", "venv", str(path)],
            [python, "-m", "pip", "install", "--quiet", *requirements(tool)],
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    for argv in steps:
        done = run_tool(argv, cwd=path.parent, env=env, timeout=INSTALL_TIMEOUT)
        if done.returncode != 0:
            raise ToolUnavailable(
                f"installing {' '.join(requirements(tool))} failed: "
                f"{explain(done.stderr + done.stdout)}",
                hint="check the version the project pins, or set lint.versions in pipeline.yaml",
            )
