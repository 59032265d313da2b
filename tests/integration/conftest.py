"""Fixtures the deploy tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.deploy_project import stop_everything
from tests.integration.kubernetes_cluster import Cluster, binaries, control_plane
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


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real Kubernetes control plane for the whole session (built by scripts/k8s/build.sh)."""
    bin_dir = binaries()
    with control_plane(tmp_path_factory.mktemp("kubernetes"), bin_dir) as running:
        yield running
