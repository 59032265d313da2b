"""What the install and test stages say when they fail, and what a run keeps as artifacts."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from pipelines.artifacts import matches
from pipelines.cli import main
from pipelines.config.pipeline import load_config
from pipelines.layout import Layout
from pipelines.project.environment import explain
from pipelines.stages import test
from pipelines.stages.base import StageContext, StageStatus

UV_BUILD_FAILURE = """\
Resolved 3 packages in 12ms
  \u00d7 Failed to build `broken @ file:///tmp/broken`
  ├─▶ The build backend returned an error
  ╰─▶ Call to `setuptools.build_meta.build_editable` failed (exit status: 1)

      [stderr]
      Traceback (most recent call last):
        File "<string>", line 14, in <module>
      ModuleNotFoundError: No module named 'numpyy'

      hint: This usually indicates a problem with the package or the build environment.
"""

UV_DISCOVERY_FAILURE = """\
  \u00d7 Failed to build `flat @ file:///tmp/flat`
  ╰─▶ Call to `setuptools.build_meta.build_editable` failed (exit status: 1)

      [stderr]
      running egg_info
      error: Multiple top-level packages discovered in a flat-layout: ['flat', 'extra'].
      ValueError: something later
"""


def test_an_install_failure_names_the_backends_own_error() -> None:
    assert explain(UV_BUILD_FAILURE) == "ModuleNotFoundError: No module named 'numpyy'"
    assert explain(UV_DISCOVERY_FAILURE).startswith("error: Multiple top-level packages")
    # Without a build backend's output, uv's own cause is the explanation.
    resolution = "  \u00d7 No solution found\n  ╰─▶ Because nosuch was not found, no solution.\n"
    assert explain(resolution) == "Because nosuch was not found, no solution."


def test_a_warning_turned_error_is_named_in_the_summary(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\nfilterwarnings = ['error']\n"
    )
    (tmp_path / "test_old.py").write_text(
        dedent(
            """
            import warnings

            warnings.warn("this import is going away", PendingDeprecationWarning)


            def test_it() -> None:
                assert True
            """
        )
    )
    (tmp_path / "pipeline.yaml").write_text(
        "project_env: {enabled: false}\n"
        f"stages:\n  test:\n    command: [{sys.executable}, -m, pytest]\n"
    )
    result = test.run(StageContext(tmp_path, load_config(tmp_path), "ci"))
    assert result.status is StageStatus.FAILED
    assert "first error: PendingDeprecationWarning: this import is going away" in result.summary


def test_kept_artifacts_are_globs_or_directories(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "reports", tmp_path / "artifacts")
    build = tmp_path / "reports" / "build"
    (build / "dist").mkdir(parents=True)
    (build / "pkg-1.0-py3-none-any.whl").write_text("wheel")
    (build / "dist" / "pkg-1.0.tar.gz").write_text("sdist")
    (build / "notes.txt").write_text("n")
    (tmp_path / "secret").write_text("outside")
    (build / "link.whl").symlink_to(tmp_path / "secret")
    (build / "linked-dir").symlink_to(tmp_path)
    wheels = [name for name, _ in matches(layout, "reports/build/*.whl")]
    assert wheels == ["reports/build/pkg-1.0-py3-none-any.whl"]
    everything = [name for name, _ in matches(layout, "reports/build")]
    assert everything == [
        "reports/build/dist/pkg-1.0.tar.gz",
        "reports/build/notes.txt",
        "reports/build/pkg-1.0-py3-none-any.whl",
    ]
    assert matches(layout, "reports/build/*.zip") == []


def test_a_custom_stage_may_keep_its_whole_directory_or_a_glob(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "stages:\n  build:\n    run: [[python, -m, build]]\n"
        '    artifacts: [reports/build, "reports/build/*.whl"]\n'
    )
    (stage,) = load_config(tmp_path).custom
    assert stage.artifacts == ("reports/build", "reports/build/*.whl")


def test_a_kept_pattern_that_matches_nothing_is_a_warning_in_the_run_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the table's cell on one line
    (tmp_path / "pipeline.yaml").write_text(
        "project_env: {enabled: false}\n"
        "stages:\n  build:\n"
        f"    run: [[{sys.executable}, -c, \"open('reports/build/pkg-1.0.whl', 'w')\"]]\n"
        '    python: tool\n    artifacts: ["reports/build/*.whl", "reports/build/*.tar.gz"]\n'
    )
    assert main(["run", "build", "-C", str(tmp_path)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "warning: artifacts matched no file: reports/build/*.tar.gz" in shown
    (run,) = (tmp_path / "artifacts").iterdir()
    assert (run / "reports/build/pkg-1.0.whl").is_file()


def test_a_custom_stage_on_a_source_it_cannot_write_builds_in_a_copy_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "checkout"
    project.mkdir()
    (project / "setup.py").write_text("print('setup')\n")
    write = (
        "import pathlib; pathlib.Path('build').mkdir(); pathlib.Path('pkg.egg-info').mkdir();"
        "pathlib.Path('reports/build/made.txt').write_text(str(sorted(p.name for p in "
        "pathlib.Path().iterdir())))"
    )
    (project / "pipeline.yaml").write_text(
        "project_env: {enabled: false}\n"
        f'stages:\n  build:\n    run: [[{sys.executable}, -c, "{write}"]]\n    python: tool\n'
    )
    # What a read-only mount (a container's /src) answers.
    real_access = os.access
    monkeypatch.setattr(
        "pipelines.stages.custom.os.access",
        lambda path, mode: False if Path(path) == project else real_access(path, mode),
    )
    assert main(["stage", "build", "-C", str(project)]) == 0
    made = (project / "reports/build/made.txt").read_text()
    assert "setup.py" in made
    assert "reports" in made
    assert "build" in made
    assert sorted(p.name for p in project.iterdir()) == ["pipeline.yaml", "reports", "setup.py"]
