"""The security stage: real bandit and detect-secrets; pip-audit's answers are fed in."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.config.pipeline import load_config
from pipelines.process import Completed
from pipelines.readers.findings import read_sarif
from pipelines.stages import gate, security
from pipelines.stages.base import StageContext, StageStatus

# Built at run time so this file itself holds nothing that looks like a credential.
FAKE_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"


def project(tmp_path: Path, scanners: str, files: dict[str, str]) -> StageContext:
    (tmp_path / "pipeline.yaml").write_text(
        f"stages:\n  security:\n    scanners: [{scanners}]\n"
        # Unit tests build no virtualenv: pip-audit's answers are fed in.
        "project_env: {enabled: false}\n"
        "environments:\n  ci:\n    gate: {max_findings: {high: 0, medium: 0}}\n"
    )
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return StageContext(tmp_path, load_config(tmp_path), "ci")


def test_bandit_and_secrets_findings_never_carry_the_secret(tmp_path: Path) -> None:
    context = project(
        tmp_path,
        "bandit, detect-secrets",
        {
            "app.py": "import subprocess\nsubprocess.call('ls', shell=True)\n",
            "settings.py": f'AWS_KEY = "{FAKE_KEY}"\n',
            "tests/test_app.py": "assert True\n",
        },
    )
    result = security.run(context)
    # The stage records what it found; the gate judges it against the environment's limits.
    assert result.status is StageStatus.PASSED
    decision = gate.decide(context)
    verdicts = {rule.name: rule.verdict.value for rule in decision.rules}
    assert verdicts["high_findings"] == "fail"
    assert decision.status.value == "closed"
    rules = {(f.tool, f.file) for f in result.findings}
    assert ("bandit", "app.py") in rules
    assert ("detect-secrets", "settings.py") in rules
    assert not any(f.file.startswith("tests") and f.tool == "bandit" for f in result.findings)
    written = (tmp_path / "reports/security/result.json").read_text()
    sarif = (tmp_path / "reports/security/security.sarif").read_text()
    for text in (written, sarif):
        assert FAKE_KEY not in text
        assert "hashed_secret" not in text
    assert json.loads(sarif)["version"] == "2.1.0"
    assert {f.tool for f in read_sarif(tmp_path / "reports/security/security.sarif")} == {
        "bandit",
        "detect-secrets",
    }


def test_a_clean_project_passes(tmp_path: Path) -> None:
    context = project(tmp_path, "bandit, detect-secrets", {"app.py": "print('hi')\n"})
    result = security.run(context)
    assert result.status is StageStatus.PASSED
    assert result.details.by_severity == {}


def fake_pip_audit(monkeypatch: pytest.MonkeyPatch, stdout: str, code: int = 0) -> None:
    def run_tool(argv: list[str], **_kwargs: Any) -> Completed:
        assert argv[0] == "pip-audit"
        return Completed(tuple(argv), code, stdout, "network is unreachable", 0.1)

    monkeypatch.setattr(security, "run_tool", run_tool)


def test_pip_audit_that_audited_nothing_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What pip-audit prints (with exit 0) when the vulnerability service cannot answer.
    skipped = {
        "dependencies": [
            {
                "name": "rich",
                "skip_reason": "Dependency not found on PyPI "
                "and could not be audited: rich (15.0.0)",
            }
        ],
        "fixes": [],
    }
    fake_pip_audit(monkeypatch, json.dumps(skipped))
    result = security.run(project(tmp_path, "pip-audit", {}))
    assert result.status is StageStatus.NOT_CHECKED
    assert result.exit_code == 0
    reason = result.details.unchecked["pip-audit"]
    assert reason.startswith("1 of 1 dependencies not audited")


def test_pip_audit_that_cannot_run_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pip_audit(monkeypatch, "", code=1)
    result = security.run(project(tmp_path, "pip-audit", {}))
    assert result.details.unchecked["pip-audit"] == "pip-audit failed: network is unreachable"


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["no-such-pip-audit-4711"], "no-such-pip-audit-4711: not found on PATH"),
        ([sys.executable, "-c", "import time; time.sleep(30)"], "still running after 1 s"),
    ],
)
def test_pip_audit_missing_or_too_slow_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], reason: str
) -> None:
    # The real run_tool with a command that is not there, or one that outlives the timeout.
    monkeypatch.setattr(security, "security_commands", lambda *_args: {"pip-audit": argv})
    project(tmp_path, "pip-audit", {})
    (tmp_path / "pipeline.yaml").write_text(
        (tmp_path / "pipeline.yaml")
        .read_text()
        .replace("scanners: [pip-audit]", "scanners: [pip-audit]\n    timeout: 1")
    )
    context = StageContext(tmp_path, load_config(tmp_path), "ci")
    result = security.run(context)
    assert result.status is StageStatus.NOT_CHECKED
    assert reason in result.details.unchecked["pip-audit"]


def test_pip_audit_vulnerabilities_are_high_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {
        "dependencies": [
            {
                "name": "jinja2",
                "version": "2.0",
                "vulns": [
                    {
                        "id": "PYSEC-2019-217",
                        "fix_versions": ["2.10.1"],
                        "description": "sandbox escape",
                    }
                ],
            }
        ]
    }
    fake_pip_audit(monkeypatch, json.dumps(report), code=1)
    result = security.run(project(tmp_path, "pip-audit", {}))
    assert result.details.by_severity == {"high": 1}
    assert result.findings[0].message == "jinja2 2.0: PYSEC-2019-217 (fixed in 2.10.1)"
    assert result.findings[0].severity == "high"


def test_bandit_and_secrets_skip_the_same_test_locations(tmp_path: Path) -> None:
    risky = f'import subprocess\nsubprocess.call("ls", shell=True)\nKEY = "{FAKE_KEY}"\n'
    context = project(
        tmp_path,
        "bandit, detect-secrets",
        {
            "app.py": risky,
            "test_root.py": risky,
            "pkg/tests/test_nested.py": risky,
            "pkg/thing_test.py": risky,
            "tests/conftest.py": risky,
        },
    )
    result = security.run(context)
    by_tool = {
        tool: {f.file for f in result.findings if f.tool == tool}
        for tool in ("bandit", "detect-secrets")
    }
    assert by_tool["bandit"] == {"app.py"}
    assert by_tool["detect-secrets"] == {"app.py"}
