"""Links a stage leaves where the host reads, copies, writes or removes files are never
followed: the host's own files stay where they are, unread and unchanged."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines import containment
from pipelines.artifacts import RunIdentity, write_run_artifacts
from pipelines.cli import main
from pipelines.layout import Layout
from pipelines.plan import Plan
from pipelines.runners.results import RunResult, RunStatus, StageRun
from tests.pipeline_files import ONLY_OWN_STAGES

# A host stage (code under test) plants links where the host will work after it.
PLANT = (
    "import os, sys\n"
    "secret, victim = sys.argv[1], sys.argv[2]\n"
    "os.symlink(secret, 'reports/plant/wheel.txt')\n"
    "os.makedirs('reports/later', exist_ok=True)\n"
    "os.symlink(victim, 'reports/later/log.txt')\n"
)


def pipeline(secret: Path, victim: Path) -> str:
    return (
        ONLY_OWN_STAGES
        + f"""
  gate: {{enabled: false}}
  plant:
    python: tool
    artifacts: [reports/plant/wheel.txt]
    run: [[python, -c, {json.dumps(PLANT)}, {secret}, {victim}]]
"""
    )


@pytest.fixture
def host_files(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "home"
    outside.mkdir()
    secret, victim = outside / "id_rsa", outside / "bashrc"
    secret.write_text("PRIVATE KEY")
    victim.write_text("mine")
    return secret, victim


def test_links_left_by_a_host_stage_are_not_followed_when_collecting(
    tmp_path: Path, host_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    secret, victim = host_files
    project = tmp_path / "project"
    project.mkdir()
    plant = pipeline(secret, victim)
    (project / "pipeline.yaml").write_text(plant)
    assert main(["run", "-C", str(project), "--json", "plant"]) == 0
    target = Path(json.loads(capsys.readouterr().out)["artifacts"])
    collected = {p.name: p.read_text() for p in target.rglob("*") if p.is_file()}
    assert all("PRIVATE KEY" not in text for text in collected.values())
    manifest = json.loads((target / "run-manifest.json").read_text())
    assert "reports/plant/wheel.txt" not in manifest["artifacts"]
    # A later run writes that stage's log where the link was, not through it.
    later = plant + "  later:\n    python: tool\n    run: [[python, -c, \"print('x')\"]]\n"
    (project / "pipeline.yaml").write_text(later)
    assert main(["run", "-C", str(project), "--json", "later"]) == 0
    assert victim.read_text() == "mine"
    log = project / "reports" / "later" / "log.txt"
    assert not log.is_symlink()
    assert "later: passed" in log.read_text()
    assert secret.read_text() == "PRIVATE KEY"


def test_a_link_in_place_of_a_stage_directory_is_replaced_not_written_through(
    tmp_path: Path,
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "log.txt").write_text("theirs")
    (project / "reports").mkdir(parents=True)
    (project / "reports" / "hello").symlink_to(elsewhere)
    (project / "pipeline.yaml").write_text(
        ONLY_OWN_STAGES + "  gate: {enabled: false}\n  hello:\n    python: tool\n"
        "    run: [[python, -c, \"print('hi')\"]]\n"
    )
    assert main(["run", "-C", str(project), "--json"]) == 0
    assert (elsewhere / "log.txt").read_text() == "theirs"
    assert "hi" in (project / "reports" / "hello" / "log.txt").read_text()


def test_clearing_old_reports_removes_the_link_not_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "keep.xml"
    outside.write_text("keep")
    (tmp_path / "r" / "test").mkdir(parents=True)
    (tmp_path / "r" / "test" / "junit.xml").symlink_to(outside)
    (tmp_path / "r" / "gate").symlink_to(tmp_path)
    containment.clear_report(tmp_path / "r", "test/junit.xml")
    containment.clear_report(tmp_path / "r", "gate/keep.xml")
    assert outside.read_text() == "keep"
    assert not (tmp_path / "r" / "test" / "junit.xml").is_symlink()


def test_reading_refuses_links_fifos_and_paths_that_climb_out(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("ok")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "dir").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    assert containment.read_regular(tmp_path, "real", limit=10) == b"ok"
    for name in ("link", "dir/real", "fifo", "../real", "missing"):
        assert containment.read_regular(tmp_path, name, limit=10) is None, name
    assert containment.read_regular(tmp_path, "real", limit=1) == b"o"


def test_a_collected_report_that_is_a_link_is_refused_and_named(tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    layout = Layout.of(tmp_path / "project")
    (layout.reports / "test").mkdir(parents=True)
    (layout.reports / "test" / "junit.xml").symlink_to(secret)
    (layout.reports / "gate").symlink_to(tmp_path)  # a link on the way
    (tmp_path / "decision.json").write_text("{}")
    result = RunResult(
        "local", (StageRun("test", RunStatus.PASSED), StageRun("gate", RunStatus.PASSED)), 1.0
    )
    identity = RunIdentity("20261201T000000000Z-abcdef", datetime.now(UTC), "c1")
    written = write_run_artifacts(layout, identity, Plan("p", "ci", ()), result)
    assert written.refused == {
        "reports/test/junit.xml": "is a symbolic link",
        "reports/gate/decision.json": "gate on the way is a symbolic link",
    }
    manifest = json.loads((written.directory / "run-manifest.json").read_text())
    assert manifest["artifacts"] == {}
    assert manifest["refused"] == written.refused


def test_pruning_never_follows_a_link_out_of_the_artifacts(tmp_path: Path) -> None:
    artifacts = tmp_path / "project" / "artifacts"
    old = artifacts / "20200101T000000000Z-aaaaaa"
    old.mkdir(parents=True)
    (old / "run-manifest.json").write_text('{"env": "ci"}')
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious.txt").write_text("mine")
    (old / "outside").symlink_to(keep)
    # A link that looks like an old run, to a directory that is not one of ours.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "run-manifest.json").write_text('{"env": "ci"}')
    (artifacts / "20200102T000000000Z-bbbbbb").symlink_to(elsewhere)
    # A run whose manifest is a link to a host file is not this tool's to judge.
    linked = artifacts / "20200103T000000000Z-cccccc"
    linked.mkdir()
    (linked / "run-manifest.json").symlink_to(keep / "precious.txt")
    (tmp_path / "project" / "pipeline.yaml").write_text("version: 1\n")
    assert main(["artifacts", "prune", "-C", str(tmp_path / "project")]) == 0
    assert not old.exists()
    assert (keep / "precious.txt").read_text() == "mine"
    assert (elsewhere / "run-manifest.json").is_file()
    assert linked.is_dir()


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "pipeline.yaml").write_text(
        ONLY_OWN_STAGES + "  gate: {enabled: false}\n  hello:\n    python: tool\n"
        "    run: [[python, -c, \"print('hi')\"]]\n"
    )
    return project


def test_pipeline_yaml_cannot_send_reports_outside_the_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A host directory whose subdirectory a stage of the same name would get mounted
    # writable (Docker runner), have cleared, and have collected into the artifacts.
    config = tmp_path / "home" / ".config"
    (config / "hello").mkdir(parents=True)
    (config / "hello" / "credentials.db").write_text("cloud credentials")
    project = _project(tmp_path)
    yaml = (project / "pipeline.yaml").read_text()
    # Nor at the project itself, or its .git (a stage named hooks would get .git/hooks).
    for place in (str(config), "../home/.config", ".", ".git"):
        (project / "pipeline.yaml").write_text(f"reports: {place}\n" + yaml)
        assert main(["run", "-C", str(project), "--json"]) == 2
        err = capsys.readouterr().err
        assert "pipeline.yaml: reports: " in err and "inside the project" in err
        assert not (config / "hello" / "log.txt").exists()
    # Given on the command line it is the caller's choice.
    elsewhere = tmp_path / "mine"
    assert main(["run", "-C", str(project), "--reports", str(elsewhere), "--json"]) == 0


def test_a_reports_link_in_the_checkout_cannot_lead_out_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "home" / ".config"
    (outside / "hello").mkdir(parents=True)
    project = _project(tmp_path)
    (project / "reports").symlink_to(outside)
    assert main(["run", "-C", str(project), "--json"]) == 2
    err = capsys.readouterr().err
    assert "reports" in err and "symbolic link" in err
    assert not (outside / "hello" / "log.txt").exists()
    # An artifacts link out of the checkout is refused the same way.
    (project / "reports").unlink()
    (project / "artifacts").symlink_to(outside)
    assert main(["run", "-C", str(project), "--json"]) == 2
    assert "artifacts" in capsys.readouterr().err


def test_the_metrics_textfile_never_replaces_a_file_that_is_not_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 mine")
    project = _project(tmp_path)
    yaml = (project / "pipeline.yaml").read_text()
    (project / "pipeline.yaml").write_text(f"metrics: {{textfile: {victim}}}\n" + yaml)
    assert main(["run", "-C", str(project), "--json"]) == 2
    assert "metrics.textfile" in capsys.readouterr().err
    assert victim.read_text() == "ssh-ed25519 mine"
