"""The SARIF log the security stage writes: rules code scanning can rank and explain, and an
invocation per scanner that says whether it really ran (SARIF 2.1.0, sections 3.19-3.20 and
3.49)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.readers.findings import Finding, read_sarif, to_sarif
from pipelines.severity import Severity
from pipelines.stages import security
from tests.unit.test_security_stage import fake_pip_audit, project

FINDINGS = [
    Finding("bandit", "B105", Severity.MEDIUM, "hardcoded password", "app/db.py", 3),
    Finding("bandit", "B105", Severity.HIGH, "hardcoded password", "app/cfg.py", 9),
    Finding("pip-audit", "GHSA-h4gh-qq45-vh27", Severity.HIGH, "cryptography 41.0.0"),
]


def test_rules_carry_severity_tags_descriptions_and_help() -> None:
    log = to_sarif(FINDINGS, ["bandit", "pip-audit"])
    bandit, audit = log["runs"]
    (rule,) = bandit["tool"]["driver"]["rules"]
    assert rule["id"] == "B105"
    # The worst severity the rule was found with: code scanning ranks alerts by it.
    assert rule["properties"]["security-severity"] == "8.0"
    assert rule["properties"]["tags"] == ["security", "sast"]
    assert rule["defaultConfiguration"] == {"level": "error"}
    assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
    assert rule["help"]["text"] and rule["help"]["markdown"]
    (vulnerability,) = audit["tool"]["driver"]["rules"]
    assert vulnerability["helpUri"] == "https://osv.dev/vulnerability/GHSA-h4gh-qq45-vh27"
    assert vulnerability["properties"]["tags"] == ["security", "dependencies"]
    assert [r["ruleId"] for r in bandit["results"]] == ["B105", "B105"]


def test_a_scanner_that_could_not_run_is_recorded_as_such() -> None:
    log = to_sarif([], ["bandit", "pip-audit"], {"pip-audit": "network is unreachable"})
    ran, not_run = (run["invocations"] for run in log["runs"])
    assert ran == [{"executionSuccessful": True}]
    assert not_run == [
        {
            "executionSuccessful": False,
            "toolExecutionNotifications": [
                {
                    "level": "error",
                    "message": {"text": "pip-audit did not run: network is unreachable"},
                }
            ],
        }
    ]
    assert log["runs"][1]["results"] == []


def test_the_security_stage_writes_the_invocations_and_reads_its_findings_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pip_audit(monkeypatch, "", code=1)
    security.run(project(tmp_path, "pip-audit", {}))
    path = tmp_path / "reports" / "security" / "security.sarif"
    log = json.loads(path.read_text())
    assert log["version"] == "2.1.0"
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert (
        "network is unreachable" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    )
    assert read_sarif(path) == []
    (tmp_path / "again.sarif").write_text(json.dumps(to_sarif(FINDINGS, ["bandit", "pip-audit"])))
    assert read_sarif(tmp_path / "again.sarif") == FINDINGS
