"""pipeline.yaml, checked once and decoded by every later stage process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.config.cache import load_cached
from pipelines.config.pipeline import load_config
from pipelines.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "service"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "service"
    target.mkdir()
    shutil.copy(EXAMPLE / "pipeline.yaml", target / "pipeline.yaml")
    return target


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "configs").glob("*.json"))


def test_a_second_load_is_the_same_config_read_from_the_cache(
    project: Path, tmp_path: Path
) -> None:
    environ = {"PIPELINES_CACHE_DIR": str(tmp_path / "cache")}
    first = load_cached(project, None, environ)
    assert first == load_config(project)
    assert len(_entries(tmp_path / "cache")) == 1
    assert load_cached(project, None, environ) == first


def test_an_edited_file_is_loaded_again_and_its_errors_are_never_cached(
    project: Path, tmp_path: Path
) -> None:
    environ = {"PIPELINES_CACHE_DIR": str(tmp_path / "cache")}
    load_cached(project, None, environ)
    text = (project / "pipeline.yaml").read_text()
    (project / "pipeline.yaml").write_text(text.replace("reruns: 2", "reruns: 1"))
    assert load_cached(project, None, environ).test.reruns == 1
    (project / "pipeline.yaml").write_text(text.replace("reruns: 2", "reruns: -1"))
    with pytest.raises(ConfigError, match="reruns"):
        load_cached(project, None, environ)
    assert len(_entries(tmp_path / "cache")) == 2


def test_a_damaged_or_unwritable_cache_falls_back_to_the_file(
    project: Path, tmp_path: Path
) -> None:
    environ = {"PIPELINES_CACHE_DIR": str(tmp_path / "cache")}
    load_cached(project, None, environ)
    [entry] = _entries(tmp_path / "cache")
    entry.write_text('{"name": 1')
    assert load_cached(project, None, environ) == load_config(project)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    assert load_cached(project, None, {"PIPELINES_CACHE_DIR": str(blocked)}).name == (
        "example-service"
    )


def test_without_a_pipeline_file_the_defaults_are_not_cached(tmp_path: Path) -> None:
    environ = {"PIPELINES_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "bare").mkdir()
    assert load_cached(tmp_path / "bare", None, environ) == load_config(tmp_path / "bare")
    assert not (tmp_path / "cache").exists()
