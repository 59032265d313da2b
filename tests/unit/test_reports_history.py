"""Reports over history, without servers: DORA metrics, retention, performance comparison,
the compliance pack, and the one summary view."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.gate.perf import Change, compare
from pipelines.gate.rules import decision_of
from pipelines.readers.findings import Finding, to_sarif
from pipelines.report.dora import commit_times, dora
from pipelines.report.github import publish
from pipelines.report.history import read_history
from pipelines.severity import Severity

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


_ids = iter(range(10**6))


def run_id(moment: datetime) -> str:
    stamp = moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"
    return f"{stamp}-{next(_ids):06x}"


def decision(env: str = "production", status: str = "open") -> dict[str, Any]:
    return {
        "env": env,
        "status": status,
        "reasons": [],
        "rules": [
            {
                "name": "pass_rate",
                "measured": 100.0,
                "threshold": 98,
                "comparison": ">=",
                "verdict": "pass",
                "detail": "",
            },
        ],
        "tests": {
            "passed": 10,
            "failed": 0,
            "errors": 0,
            "skipped": 0,
            "xfailed": 0,
            "flaky": 1,
            "records": 11,
            "flaky_tests": [{"classname": "t", "name": "test_sometimes"}],
        },
        "coverage": {
            "source": "c.xml",
            "lines_covered": 80,
            "lines_valid": 100,
            "branches_covered": 0,
            "branches_valid": 0,
        },
        "findings": {"high": 0, "low": 2},
        "unchecked_scanners": {},
        "problems": [],
    }


def write_run(artifacts: Path, moment: datetime, commit: str, env: str = "production") -> str:
    rid = run_id(moment)
    directory = artifacts / rid
    directory.mkdir(parents=True)
    manifest = {
        "run_id": rid,
        "env": env,
        "commit": commit,
        "timestamp": moment.isoformat(),
        "status": "passed",
        "duration_seconds": 5.0,
        "pipeline": "shop",
        "runner": "local",
        "stages": [{"name": "test", "status": "passed", "duration_seconds": 3.0, "started": 1.0}],
    }
    (directory / "run-manifest.json").write_text(json.dumps(manifest))
    (directory / "gate-decision.json").write_text(json.dumps(decision(env)))
    return rid


def write_deploy(
    artifacts: Path,
    moment: datetime,
    *,
    action: str = "deploy",
    outcome: str = "succeeded",
    commit: str = "c1",
    gate_run: str | None = None,
    approved: bool = True,
    env: str = "production",
) -> str:
    rid = run_id(moment)
    directory = artifacts / rid
    directory.mkdir(parents=True)
    start = moment.timestamp()
    rolled = outcome == "rolled-back"
    manifest = {
        "action": action,
        "env": env,
        "version": "1.0",
        "commit": commit,
        "outcome": outcome,
        "reason": "analysis Failed" if rolled else "",
        "approval": (
            {"required": True, "by": "alice", "via": "ci"} if approved else {"required": False}
        ),
        "gate_decision": {"status": "open", "run_id": gate_run, "path": "x"} if gate_run else {},
        "audit": {"seq": 1, "hash": "h"},
    }
    timeline = {
        "started": start,
        "exposed": start + 1,
        "fault_seen": start + 6 if rolled else None,
        "decision": start + 6 if rolled else None,
        "traffic_on_stable": start + 6.2 if rolled or action == "rollback" else None,
        "cleanup": None,
        "finished": start + 10,
    }
    (directory / "deployment-manifest.json").write_text(json.dumps(manifest))
    (directory / "deployment-metrics.json").write_text(json.dumps({"timeline": timeline}))
    return rid


def test_dora_metrics_and_their_buckets(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    day = timedelta(days=1)
    for n in range(10):  # ten deploys over ten days, each 2 hours after its commit
        write_deploy(artifacts, NOW - n * day, commit=f"c{n}")
    write_deploy(artifacts, NOW - 3.5 * day, outcome="rolled-back", commit="bad")
    write_deploy(artifacts, NOW - 200 * day, commit="old")  # outside the window
    write_deploy(artifacts, NOW - 2 * day, env="staging")  # another environment
    history = read_history(artifacts)
    commits = {f"c{n}": NOW - n * day - timedelta(hours=2) for n in range(10)}
    metrics = {
        m.name: m
        for m in dora(history, "production", since=NOW - 30 * day, now=NOW, commit_time=commits.get)
    }
    frequency = metrics["deployment frequency"]
    assert frequency.value == pytest.approx(10 / 30) and frequency.bucket == "high"
    lead = metrics["lead time for changes"]
    assert lead.value == pytest.approx(2 + 10 / 3600, rel=1e-3) and lead.bucket == "elite"
    failures = metrics["change failure rate"]
    assert failures.value == pytest.approx(100 / 11) and failures.bucket == "high"
    restore = metrics["time to restore service"]
    assert restore.value == pytest.approx(5.2 / 60) and restore.bucket == "elite"
    empty = dora(
        read_history(tmp_path / "none"),
        "production",
        since=NOW - day,
        now=NOW,
        commit_time=lambda _: None,
    )
    assert all(m.bucket == "no data" for m in empty)


def test_a_rollback_after_a_deploy_makes_it_a_failed_change(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    write_deploy(artifacts, NOW - timedelta(hours=5))
    write_deploy(artifacts, NOW - timedelta(hours=4), action="rollback", outcome="rolled-back")
    write_deploy(artifacts, NOW - timedelta(hours=3))
    metrics = dora(
        read_history(artifacts),
        "production",
        since=NOW - timedelta(days=1),
        now=NOW,
        commit_time=lambda _: None,
    )
    assert metrics[2].value == pytest.approx(50.0)


def test_prune_keeps_everything_younger_than_its_retention_and_every_audit_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    artifacts = project / "artifacts"
    now = datetime.now(UTC)
    old_run = write_run(artifacts, now - timedelta(days=8), "c1", env="ci")
    new_run = write_run(artifacts, now - timedelta(days=6), "c2", env="ci")
    old_staging = write_deploy(artifacts, now - timedelta(days=31), env="staging")
    kept_prod = write_deploy(artifacts, now - timedelta(days=80))
    (artifacts / "deploy-audit.jsonl").write_text("{}\n")
    (artifacts / "not-a-run").mkdir()
    assert main(["artifacts", "prune", "-C", str(project), "--dry-run", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert sorted(Path(p).name for p in planned["expired"]) == sorted([old_run, old_staging])
    assert planned["removed"] == []
    assert (artifacts / old_run).is_dir()
    assert main(["artifacts", "prune", "-C", str(project)]) == 0
    left = {p.name for p in artifacts.iterdir()}
    assert left == {new_run, kept_prod, "deploy-audit.jsonl", "not-a-run"}
    (project / "pipeline.yaml").write_text("version: 1\nretention: {runs: 1d}\n")
    assert main(["artifacts", "prune", "-C", str(project)]) == 0
    assert new_run not in {p.name for p in artifacts.iterdir()}


def _samples(seed: int, median: float, n: int = 50) -> list[float]:
    rng = random.Random(seed)  # noqa: S311 - reproducible timings, not secrets
    return [median * rng.lognormvariate(0, 0.1) for _ in range(n)]


def test_noise_alone_never_closes_the_performance_gate() -> None:
    slowed = closed = 0
    for seed in range(200):  # two runs of the same code, 200 times
        same = compare({"b": _samples(seed, 1e-3)}, {"b": _samples(seed + 1000, 1e-3)})[0]
        slowed += same.change is Change.SLOWER
        closed += same.slowdown_percent > 10  # a gate allowing 10%
    assert closed == 0
    assert slowed <= 4  # at most 2% are called slower at all
    slower = compare({"b": _samples(1, 1e-3)}, {"b": _samples(2, 1.3e-3)})[0]
    assert slower.change is Change.SLOWER and slower.slowdown_percent > 20
    faster = compare({"b": _samples(1, 1e-3)}, {"b": _samples(2, 0.7e-3)})[0]
    assert faster.change is Change.FASTER and faster.slowdown_percent == 0


def _benchmark_file(path: Path, timings: list[float]) -> Path:
    data = {
        "benchmarks": [
            {
                "name": "test_parse",
                "fullname": "t.py::test_parse",
                "stats": {"median": sorted(timings)[len(timings) // 2], "data": timings},
            }
        ]
    }
    path.write_text(json.dumps(data))
    return path


def test_perf_compare_writes_the_comparison_and_the_gate_judges_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text(
        "version: 1\nenvironments: {ci: {gate: {max_slowdown: 10}}}\n"
    )
    base = _benchmark_file(tmp_path / "a.json", _samples(1, 1e-3))
    slow = _benchmark_file(tmp_path / "b.json", _samples(2, 1.5e-3))
    args = ["perf", "compare", "-C", str(project), "--baseline", str(base)]
    assert main([*args, "--candidate", str(base)]) == 0
    assert main([*args, "--candidate", str(slow)]) == 1
    assert "slower than the 10% allowed" in capsys.readouterr().out
    comparison = json.loads((project / "reports/perf/comparison.json").read_text())
    assert comparison["over_limit"]
    assert main(["gate", "-C", str(project), "--json"]) == 1
    gate = json.loads(capsys.readouterr().out)
    rule = next(r for r in gate["rules"] if r["name"] == "performance")
    assert rule["verdict"] == "fail" and rule["threshold"] == 10
    no_data = tmp_path / "c.json"
    no_data.write_text(json.dumps({"benchmarks": [{"name": "x", "stats": {"median": 1}}]}))
    assert main([*args, "--candidate", str(no_data)]) == 1
    assert "--benchmark-save-data" in capsys.readouterr().err


def test_the_compliance_pack_states_missing_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    artifacts = project / "artifacts"
    now = datetime.now(UTC)
    gate_run = write_run(artifacts, now - timedelta(hours=3), "c1")
    write_deploy(artifacts, now - timedelta(hours=2), gate_run=gate_run)
    write_deploy(artifacts, now - timedelta(hours=1), gate_run=None, approved=False)
    out = tmp_path / "pack"
    assert main(["report", "compliance", "-C", str(project), "--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["changes"] == 2 and summary["complete"] == 0
    text = (out / "compliance.md").read_text()
    assert "approved by alice (ci)" in text
    assert "open (run " + gate_run in text
    assert "10 executed, 0 failed, pass rate 100.00%" in text
    assert "no gate decision recorded" in text
    assert "no deploy audit log" in text
    assert "SOC 2 CC8.1" in text and "Annex A 8.32" in text
    assert "<table>" in (out / "compliance.html").read_text()


def test_the_github_summary_is_the_summary_view(tmp_path: Path) -> None:
    step_summary = tmp_path / "summary.md"
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step_summary)}
    publish(decision_of(decision()), environ)
    text = step_summary.read_text()
    assert "### ✅ Gate open (production)" in text
    assert "Flaky tests: t.test_sometimes" in text or "Flaky tests: test_sometimes" in text
    assert "Findings: 0 high, 2 low." in text


def test_report_summary_and_html_read_the_newest_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    artifacts = project / "artifacts"
    write_run(artifacts, NOW - timedelta(hours=2), "c1")
    newest = write_run(artifacts, NOW - timedelta(hours=1), "c2")
    assert main(["report", "summary", "-C", str(project), "--markdown"]) == 0
    assert "| test | passed | 3.0 s |" in capsys.readouterr().out
    assert main(["report", "html", "-C", str(project), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert newest in page and 'data-value="3"' in page and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert main(["report", "html", "-C", str(project), "--run", "nope"]) == 2
    assert (tmp_path / "r.html").exists()


def test_a_commit_read_back_from_the_artifacts_never_reaches_git_as_an_option(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("mine")
    artifacts = tmp_path / "artifacts"
    write_deploy(artifacts, NOW, commit=f"--output={victim}")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    times = commit_times(tmp_path, read_history(artifacts))
    assert times == {f"--output={victim}": None}
    assert victim.read_text() == "mine"


def test_the_html_report_never_shows_findings_read_through_a_link_a_stage_left(
    tmp_path: Path,
) -> None:
    project = tmp_path / "shop"
    write_run(project / "artifacts", NOW - timedelta(hours=1), "c1")
    finding = Finding("bandit", "B105", Severity.HIGH, "HOST-ONLY text", "app.py", 1)
    elsewhere = tmp_path / "elsewhere.sarif"
    elsewhere.write_text(json.dumps(to_sarif([finding], ["bandit"])))
    (project / "reports").mkdir()
    # A link in place of the file, and in place of the stage's directory.
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    shutil.copy(elsewhere, host_dir / "security.sarif")
    security = project / "reports" / "security"
    html = ["report", "html", "-C", str(project), "--out", str(tmp_path / "r.html")]
    security.mkdir()
    (security / "security.sarif").symlink_to(elsewhere)
    assert main(html) == 0
    assert "HOST-ONLY" not in (tmp_path / "r.html").read_text()
    (security / "security.sarif").unlink()
    security.rmdir()
    security.symlink_to(host_dir)
    assert main(html) == 0
    assert "HOST-ONLY" not in (tmp_path / "r.html").read_text()
    security.unlink()
    # The same file in place is shown: the link was what kept it out.
    (project / "reports" / "security").mkdir()
    shutil.copy(elsewhere, project / "reports" / "security" / "security.sarif")
    assert main(["report", "html", "-C", str(project), "--out", str(tmp_path / "r.html")]) == 0
    assert "HOST-ONLY" in (tmp_path / "r.html").read_text()
