"""The container and CI files: the Dagger manifest, the toolchain Dockerfile, the workflows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.config.pipeline import load_config
from pipelines.project.commands import lint_tools
from pipelines.project.facts import read_facts
from pipelines.toolchain import CONTEXT_DIRS, CONTEXT_FILES

ROOT = Path(__file__).resolve().parents[2]


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.lstrip("v").split("."))


def test_dagger_manifest() -> None:
    manifest = json.loads((ROOT / "dagger.json").read_text())
    assert manifest["name"] == "ci"
    assert manifest["sdk"] == {"source": "python"}
    assert manifest["source"] == "ci"
    # v0.20.7 and v0.21.0 shipped a broken Python function analyser.
    assert version(manifest["engineVersion"]) >= (0, 21, 1)
    # The module's own context must hold everything the toolchain is built from.
    for needed in (
        "containers/**",
        "pipelines/**",
        "pyproject.toml",
        "constraints.txt",
        "README.md",
    ):
        assert needed in manifest["include"]


def test_no_lock_file_with_download_addresses_is_tracked() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [
        f for f in tracked if Path(f).name in {"uv.lock", "poetry.lock", "package-lock.json"}
    ]


def test_toolchain_requirements_match_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        re.split(r"[<>=\[ ]", dep)[0].lower()
        for dep in [*project["dependencies"], *project["optional-dependencies"]["tools"]]
    }
    listed = {
        line.strip().lower()
        for line in (ROOT / "containers/toolchain-requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed == wanted | {"setuptools"}
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert {name.replace("_", "-") for name in listed} <= pinned


def test_dependencies_install_before_the_source_is_copied() -> None:
    lines = (ROOT / "containers/toolchain.Dockerfile").read_text().splitlines()
    install_deps = next(
        i
        for i, line in enumerate(lines)
        if "toolchain-requirements.txt" in line and line.lstrip().startswith("-r")
    )
    copy_source = next(i for i, line in enumerate(lines) if line.startswith("COPY pipelines"))
    assert install_deps < copy_source
    copied = {part for line in lines if line.startswith("COPY") for part in line.split()[1:-1]}
    assert copied <= {*CONTEXT_FILES, *CONTEXT_DIRS, "containers/extra-ca/"}
    assert "ARG BASE_IMAGE=" in "\n".join(lines)
    assert "nginx" in "\n".join(lines)


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert tool, "actionlint is installed with the dev extras"
    return subprocess.run([tool, *map(str, paths)], capture_output=True, text=True, check=False)


def test_workflows_pass_actionlint() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    done = actionlint(*workflows)
    assert done.returncode == 0, done.stdout + done.stderr
    for workflow in workflows:
        steps = [
            line.strip()
            for line in workflow.read_text().splitlines()
            if line.strip().startswith(("- uses:", "uses:", "run:", "- run:"))
        ]
        # Thin: check out, then Dagger; no pipeline logic in YAML.
        assert not [s for s in steps if "run:" in s]
        assert any("dagger/dagger-for-github@" in s for s in steps)


def test_init_scaffolds_a_valid_pipeline_and_workflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    module = "github.com/acme/portable-pipelines@v1.2.3"
    assert main(["init", "-C", str(project), "--module", module]) == 0
    assert load_config(project).name == "shop"
    workflow = project / ".github/workflows/ci.yml"
    assert f'module: "{module}"' in workflow.read_text()
    done = actionlint(workflow)
    assert done.returncode == 0, done.stdout
    capsys.readouterr()
    assert main(["init", "-C", str(project)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert f'module: "{module}"' in workflow.read_text()
    assert main(["init", "-C", str(project), "--force"]) == 0
    assert main(["init", "-C", str(project), "--module", "x; rm -rf /"]) == 2


def test_init_writes_the_pipeline_file_it_is_given_and_the_workflow_passes_it_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    (project / "ci").mkdir(parents=True)
    target = project / "ci" / "pipeline.yaml"
    assert main(["init", "-C", str(project), "--config", str(target)]) == 0
    assert target.is_file()
    assert not (project / "pipeline.yaml").exists()
    assert load_config(project, target).name == "shop"
    workflow = (project / ".github/workflows/ci.yml").read_text()
    assert "--config ci/pipeline.yaml" in workflow
    outside = tmp_path / "elsewhere.yaml"
    assert main(["init", "-C", str(project), "--config", str(outside), "--force"]) == 2
    assert "must lie inside the project" in capsys.readouterr().err


def test_validate_without_a_pipeline_file_says_the_defaults_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "-C", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"no {tmp_path / 'pipeline.yaml'}: the defaults apply")


def test_init_points_editors_at_the_schema_of_the_module_version(tmp_path: Path) -> None:
    module = "github.com/acme/portable-pipelines@v1.2.3"
    assert main(["init", "-C", str(tmp_path), "--module", module]) == 0
    first = (tmp_path / "pipeline.yaml").read_text().splitlines()[0]
    assert first == (
        "# yaml-language-server: $schema=https://raw.githubusercontent.com/acme/"
        "portable-pipelines/v1.2.3/docs/schema/pipeline.schema.json"
    )


def test_init_ignores_what_a_run_writes_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / ".gitignore").write_text("*.pyc\nreports\n")
    assert main(["init", "-C", str(project)]) == 0
    assert (project / ".gitignore").read_text() == "*.pyc\nreports\nartifacts/\n"
    assert "added artifacts/ to .gitignore" in capsys.readouterr().out
    assert main(["init", "-C", str(project), "--force"]) == 0
    assert ".gitignore" not in capsys.readouterr().out


def test_init_leaves_the_linters_to_what_the_project_declares(tmp_path: Path) -> None:
    (tmp_path / "requirements-dev.txt").write_text("black==24.8.0\nflake8==7.1.1\n")
    (tmp_path / "setup.cfg").write_text("[flake8]\nmax-line-length = 100\n")
    assert main(["init", "-C", str(tmp_path)]) == 0
    config = load_config(tmp_path)
    tools = [tool.name for tool in lint_tools(config, read_facts(tmp_path))]
    assert tools == ["black", "flake8"]
