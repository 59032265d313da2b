"""Stage results are typed values inside the process, decoded once at result.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.config.health import CheckResult, CheckStatus, HealthDetails
from pipelines.config.pipeline import load_config
from pipelines.readers.findings import Finding
from pipelines.severity import Severity
from pipelines.stages.base import StageContext, StageResult, StageStatus, read_result
from pipelines.stages.details import ScannerRecord, SecurityDetails


def test_a_result_is_read_back_as_its_stages_own_types(tmp_path: Path) -> None:
    context = StageContext(tmp_path, load_config(tmp_path), "ci")
    details = SecurityDetails(
        {"bandit": ScannerRecord("checked", 1)}, {Severity.HIGH: 1}, {"pip-audit": "offline"}
    )
    finding = Finding("bandit", "B105", Severity.HIGH, "a password in the source", "app.py", 3)
    written = StageResult("security", StageStatus.NOT_CHECKED, "1 finding(s)", details, (finding,))
    path = written.write(context)
    assert read_result(path, SecurityDetails) == written
    assert json.loads(path.read_text())["details"]["by_severity"] == {"high": 1}

    check = CheckResult("api", "http", CheckStatus.FAILED, True, 2, 12.5, "HTTP 500")
    health = StageResult(
        "health", StageStatus.FAILED, "unhealthy", HealthDetails("ci", "x", 1, (check,))
    )
    assert read_result(health.write(context), HealthDetails).details.checks == (check,)


@pytest.mark.parametrize(
    "text",
    [
        "{",
        '{"stage": "security"}',
        '{"stage": "security", "status": "passed", "summary": "",'
        ' "details": {"by_severity": {"high": "many"}}}',
    ],
)
def test_a_security_result_this_tool_did_not_write_closes_the_gate_and_says_so(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "reports" / "security").mkdir(parents=True)
    (tmp_path / "reports" / "security" / "result.json").write_text(text)
    assert main(["gate", "-C", str(tmp_path), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert any("is not a stage result written by this tool" in p for p in problems), problems
