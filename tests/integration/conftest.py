"""Fixtures the deploy tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.deploy_project import stop_everything
from tests.integration.servers import need


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A deploy state directory of the test's own (PIPELINES_STATE_DIR), cleaned up after:
    whatever a failed test left running (nginx, instances) is stopped."""
    need("nginx")
    directory = tmp_path / "state"
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(directory))
    yield directory
    stop_everything(directory)
