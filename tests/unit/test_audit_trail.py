"""Flag changes and their audit trail: one transaction, comments kept, tampering evident."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from pipelines import codec
from pipelines.audit import AuditLog, Transaction, entry_hash
from pipelines.cli import main
from pipelines.config.pipeline import load_config
from pipelines.stages import security
from pipelines.stages.base import StageContext

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "service" / "flags.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flags.yaml").write_text(EXAMPLE.read_text())
    return tmp_path


def set_flag(project: Path, value: str = "false", *extra: str) -> int:
    argv = ["flags", "set", "OTEL_ENABLED", value, "--env", "ci", "-C", str(project)]
    return main([*argv, "--reason", "test", *extra])


def test_set_changes_one_value_and_keeps_comments_and_layout(project: Path) -> None:
    before = (project / "flags.yaml").read_text().splitlines()
    assert set_flag(project) == 0
    after = (project / "flags.yaml").read_text().splitlines()
    changed = [line for line in difflib.unified_diff(before, after, lineterm="", n=0)][2:]
    assert changed == [
        "@@ -21 +21 @@",
        "-    environments: {ci: true, staging: true, production: true}",
        "+    environments: {ci: false, staging: true, production: true}",
    ]


def test_a_failed_audit_entry_leaves_no_change(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (project / "flags.yaml").read_bytes()

    def broken(self: Transaction, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", "flags-audit.jsonl")

    monkeypatch.setattr(Transaction, "append", broken)
    assert set_flag(project) == 2
    assert (project / "flags.yaml").read_bytes() == before


@pytest.mark.parametrize(
    "command",
    [
        ["flags", "list", "--env", "prod"],
        ["flags", "get", "OTEL_ENABLED", "--env", "prod"],
        ["flags", "export", "--env", "prod"],
        ["flags", "history", "--env", "prod"],
        ["flags", "set", "OTEL_ENABLED", "true", "--env", "prod", "--reason", "x"],
    ],
)
def test_an_unknown_environment_is_a_usage_error(
    project: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "-C", str(project)]) == 2
    err = capsys.readouterr().err
    assert "unknown environment 'prod'" in err
    assert "did you mean 'production'?" in err
    assert not (project / "flags-audit.jsonl").exists()


def test_signed_entries_cannot_be_rebuilt_without_the_key(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIPELINES_AUDIT_KEY", "s3cret-of-the-ci")
    assert set_flag(project, "false") == 0
    assert set_flag(project, "true") == 0
    assert main(["audit", "verify", "-C", str(project)]) == 0
    log = project / "flags-audit.jsonl"
    # Someone without the key edits an entry and rebuilds the chain and the head.
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    entries[0]["reason"] = "nothing to see"
    previous = "0" * 64
    for entry in entries:
        entry["prev"] = previous
        entry["hash"] = previous = entry_hash(entry)
    log.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    (project / "flags-audit.jsonl.head").write_text(json.dumps({"entries": 2, "hash": previous}))
    capsys.readouterr()
    assert main(["audit", "verify", "-C", str(project)]) == 1
    assert "its content does not match its hash" in capsys.readouterr().out
    monkeypatch.delenv("PIPELINES_AUDIT_KEY")
    assert main(["audit", "verify", "-C", str(project)]) == 1
    assert "set PIPELINES_AUDIT_KEY to verify it" in capsys.readouterr().out


def test_a_deleted_log_no_longer_matches_the_runs_that_recorded_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert set_flag(project) == 0
    head = AuditLog(project / "flags-audit.jsonl").verify().head
    manifest = project / "artifacts" / "run-1" / "run-manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"audit": {"flags": codec.to_builtins(head)}}))
    assert main(["audit", "verify", "-C", str(project)]) == 0
    assert "matches 1 run manifest(s)" in capsys.readouterr().out
    (project / "flags-audit.jsonl").unlink()
    (project / "flags-audit.jsonl.head").unlink()
    assert main(["audit", "verify", "-C", str(project)]) == 1
    assert "recorded 1 entries; the log has 0 (rolled back or deleted)" in capsys.readouterr().out
    # A change on top of a deleted log is refused too: its history is gone.
    assert set_flag(project, "true") == 2
    assert "does not match the history runs recorded" in capsys.readouterr().err
    assert main(["audit", "verify", "-C", str(project), "--against", str(project / "nope")]) == 2


def test_a_line_that_is_not_an_object_is_a_finding_not_a_crash(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert set_flag(project) == 0
    with (project / "flags-audit.jsonl").open("a") as handle:
        handle.write("[1, 2, 3]\n")
    assert main(["audit", "verify", "-C", str(project)]) == 1
    assert "line 2: not a JSON object" in capsys.readouterr().out


def test_history_says_when_it_cannot_be_trusted(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert set_flag(project) == 0
    log = project / "flags-audit.jsonl"
    log.write_text(log.read_text().replace('"reason": "test"', '"reason": "edited"'))
    capsys.readouterr()
    assert main(["flags", "history", "-C", str(project)]) == 1
    assert "is not intact; these entries cannot be trusted" in capsys.readouterr().out


def test_the_flags_key_of_pipeline_yaml_is_used_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "features.yaml").write_text(EXAMPLE.read_text())
    (tmp_path / "pipeline.yaml").write_text("flags: config/features.yaml\n")
    assert main(["flags", "list", "--env", "ci", "-C", str(tmp_path), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 11
    assert set_flag(tmp_path) == 0
    assert (tmp_path / "config" / "flags-audit.jsonl").is_file()
    assert main(["audit", "verify", "-C", str(tmp_path)]) == 0
    assert "config/flags-audit.jsonl: intact (1 entry)" in capsys.readouterr().out


@pytest.mark.parametrize("where", [".", "config"])
def test_the_audit_log_is_never_scanned_as_the_projects_secrets(tmp_path: Path, where: str) -> None:
    (tmp_path / where).mkdir(exist_ok=True)
    (tmp_path / where / "flags.yaml").write_text(EXAMPLE.read_text())
    (tmp_path / "pipeline.yaml").write_text(
        f"flags: {where}/flags.yaml\nproject_env: {{enabled: false}}\n"
        "stages:\n  security:\n    scanners: [detect-secrets]\n"
    )
    for value in ("false", "true", "false"):
        assert set_flag(tmp_path, value) == 0
    assert (tmp_path / where / "flags-audit.jsonl").is_file()
    result = security.run(StageContext(tmp_path, load_config(tmp_path), "ci"))
    assert [f.file for f in result.findings] == []


def test_audit_verify_file_is_the_flags_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config").mkdir()
    flags = tmp_path / "config" / "features.yaml"
    flags.write_text(EXAMPLE.read_text())
    argv = ["flags", "set", "OTEL_ENABLED", "false", "--env", "ci", "--reason", "x"]
    assert main([*argv, "-C", str(tmp_path), "--file", str(flags)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "-C", str(tmp_path), "--file", str(flags)]) == 0
    assert "config/flags-audit.jsonl: intact (1 entry)" in capsys.readouterr().out
