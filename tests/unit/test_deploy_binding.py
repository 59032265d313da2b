"""A gate decision opens the way for the commit and tree it judged, and for nothing else: the
tree digest, the decision's binding, the deploy's refusal, --force and the evidence."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgspec
import pytest

from pipelines import codec
from pipelines.cli import main
from pipelines.codec import DamagedFile
from pipelines.config.pipeline import load_config
from pipelines.deploy import operations
from pipelines.deploy.environment import DeployEnv
from pipelines.gate.rules import decision_of
from pipelines.layout import Layout
from pipelines.source_tree import TreeState, tree_digest, tree_state

ENVIRON = {"PIPELINES_COMMIT": "c0ffee" * 6, "PIPELINES_ACTOR": "ci-bot"}


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "shop"
    (project / "app").mkdir(parents=True)
    (project / "app" / "main.py").write_text("print('v1')\n")
    (project / "pipeline.yaml").write_text(
        "version: 1\nname: shop\nservice: {command: [python, -m, app.main], files: [app]}\n"
    )
    return project


def test_the_digest_follows_the_files_and_leaves_out_what_runs_write(tmp_path: Path) -> None:
    project = _project(tmp_path)
    before = tree_digest(project)
    for written in ("reports/gate/decision.json", "artifacts/x/m.json", ".pytest_cache/v"):
        (project / written).parent.mkdir(parents=True, exist_ok=True)
        (project / written).write_text("{}")
    (project / "app" / "__pycache__").mkdir()
    (project / "app" / "__pycache__" / "main.pyc").write_bytes(b"\0")
    assert tree_digest(project) == before
    (project / "app" / "main.py").write_text("print('v2')\n")
    assert tree_digest(project) != before


def test_a_link_is_digested_as_a_link_never_followed(tmp_path: Path) -> None:
    project = _project(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("one")
    (project / "app" / "data").symlink_to(outside, target_is_directory=True)
    before = tree_digest(project)
    (outside / "secret").write_text("two")  # what the link points at is not the project's
    assert tree_digest(project) == before
    (project / "app" / "data").unlink()
    (project / "app" / "data").symlink_to(tmp_path)
    assert tree_digest(project) != before


def test_a_git_checkout_says_whether_its_tree_is_dirty(tmp_path: Path) -> None:
    project = _project(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "first"], cwd=project, check=True)
    clean = tree_state(project, {})
    assert clean.dirty is False and len(clean.commit) == 40
    (project / "app" / "main.py").write_text("print('edited')\n")
    dirty = tree_state(project, {})
    assert dirty.dirty is True and dirty.commit == clean.commit and dirty.tree != clean.tree
    assert tree_state(_project(tmp_path / "plain"), ENVIRON).dirty is None  # not a checkout


def _decide(project: Path, release: TreeState | None) -> None:
    decision: dict[str, object] = {"env": "staging", "status": "open", "rules": []}
    if release is not None:
        decision["release"] = msgspec.to_builtins(release)
    (project / "reports/gate").mkdir(parents=True, exist_ok=True)
    (project / "reports/gate/decision.json").write_text(json.dumps(decision))


def test_decisions_keep_their_binding_and_older_ones_still_read(tmp_path: Path) -> None:
    bound = TreeState(commit="abc", tree="def", dirty=False)
    older = {"env": "staging", "status": "open", "rules": []}
    assert decision_of(older).release is None
    decision = decision_of({**older, "release": msgspec.to_builtins(bound)})
    assert decision.release == bound
    assert decision_of(codec.to_builtins(decision)) == decision
    with pytest.raises(DamagedFile, match="release"):
        decision_of({**older, "release": {"commit": 7}})


@pytest.fixture
def deploying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path / "state"))
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    return _project(tmp_path)


def test_a_deploy_of_another_tree_than_the_gate_judged_is_refused_naming_both(
    deploying: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = deploying
    judged = tree_state(project, ENVIRON)
    _decide(project, judged)
    (project / "app" / "main.py").write_text("print('changed after the gate')\n")
    args = ["deploy", "-C", str(project), "--env", "staging"]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 1, captured
    err = captured.err
    assert f"judged commit {judged.commit[:12]} (tree {judged.tree[:12]})" in err
    now = tree_digest(project)
    assert f"(tree {now[:12]})" in err
    _decide(project, None)  # a decision from before the binding vouches for nothing
    assert main(args) == 1
    assert "does not record the commit and tree it judged" in capsys.readouterr().err


def test_force_deploys_past_the_binding_and_the_evidence_says_so(
    deploying: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = deploying
    _decide(project, TreeState(commit="0" * 40, tree="f" * 64, dirty=False))

    class GuardsPassed(Exception):
        pass

    def no_controller(*_: object, **__: object) -> object:
        raise GuardsPassed  # stop before anything starts

    monkeypatch.setattr(DeployEnv, "controller", no_controller)
    environ = {**ENVIRON, "PIPELINES_STATE_DIR": str(project.parent / "state")}
    denv = DeployEnv.open(project, load_config(project), "staging", Layout.of(project), environ)
    with pytest.raises(GuardsPassed):
        operations.deploy(
            denv,
            operations.DeployRequest(force_reason="hotfix, gate run pending"),
            confirm=None,
            log=lambda line: None,
            pid=1,
        )
    audit_log = (project / "artifacts/deploy-audit.jsonl").read_text().splitlines()
    audit = [json.loads(line) for line in audit_log]
    forced = next(entry for entry in audit if entry["action"] == "force")
    assert forced["reason"] == "hotfix, gate run pending"
    assert forced["tree"] == tree_digest(project)
    assert forced["commit"] == ENVIRON["PIPELINES_COMMIT"]
