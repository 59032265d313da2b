"""Shared fixtures: small report writers and the example project."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "service"


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write a file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A private copy of the example service (tests may change it and leave reports in it)."""
    target = tmp_path / "service"
    shutil.copytree(
        EXAMPLE,
        target,
        ignore=shutil.ignore_patterns("reports", "artifacts", "__pycache__", ".*_cache"),
    )
    return target
