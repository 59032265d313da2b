"""The HTML report cannot be forged by what it shows: hostile deploy and drill evidence stays
text, the page forbids scripts and remote loads, and its headings say what happened."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines import codec
from pipelines.cli import main
from pipelines.codec import DamagedFile
from pipelines.deploy.records import DeployManifest, DeployMetricsFile, DrillReportFile
from pipelines.report.deploy_view import analysis_steps, headline
from pipelines.report.history import DeployEntry, History
from pipelines.report.html import CONTENT_SECURITY_POLICY, render
from pipelines.report.summary import summary_of
from pipelines.report.svg import Series, _ticks, lines

RUN_ID = "20261129T120000123Z-0000aa"
HOSTILE = '<script>alert(1)</script><img src="http://attacker.invalid/x.png">'


def entry(
    *,
    action: str = "drill",
    outcome: str = "rolled-back",
    drill: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    run_id: str = RUN_ID,
) -> DeployEntry:
    # Decoded as the report decodes the files: what does not fit its type never gets here.
    report = None
    if drill is not None:
        base = {"env": "staging", "strategy": "canary", "fault": "errors", "sla_seconds": 60}
        report = codec.decode(json.dumps({**base, **drill}), DrillReportFile, "drill")
    return DeployEntry(
        run_id,
        Path("/nowhere"),
        action,
        "staging",
        "2.0.0",
        "c0ffee",
        outcome,
        "a reason",
        datetime(2026, 11, 29, 12, tzinfo=UTC),
        DeployManifest(action=action, env="staging", version="2.0.0", outcome=outcome),
        codec.decode(json.dumps(metrics or {}), DeployMetricsFile, "metrics"),
        report,
    )


def canary_metrics() -> dict[str, Any]:
    def sample(p95: float, errors: float) -> dict[str, Any]:
        return {"requests": 40, "p95_ms": p95, "error_rate": errors}

    def analyse(weight: float, seconds: float) -> dict[str, Any]:
        step = {"kind": "analyse", "weight": weight, "new": ["r2-0"], "stable": ["r1-0"]}
        return {"target": "local", "step": step, "seconds": seconds, "ok": True}

    route_step = {"kind": "route", "weights": []}
    route = {"target": "local", "step": route_step, "seconds": 0.5, "ok": True}
    return {
        # Written in an order that is not time order.
        "timeline": {
            "started": 1000.0,
            "traffic_on_stable": 1007.5,
            "exposed": 1000.5,
            "decision": 1007.0,
            "cleanup": None,
        },
        "steps": [route, analyse(10, 3.0), route, analyse(50, 3.0)],
        "analysis": [
            {
                "at": 1003.0,
                "verdict": "Successful",
                "detail": "",
                "new": sample(12.0, 0.0),
                "stable": sample(11.0, 0.0),
            },
            {
                "at": 1006.9,
                "verdict": "Failed",
                "detail": "error rate high",
                "new": sample(97.3, 41.0),
                "stable": sample(12.0, 0.0),
            },
        ],
    }


def page_of(deploy: DeployEntry) -> str:
    history = History(deploys=[deploy])
    return render(history, None, summary_of(history, None), pipeline="shop")


def test_hostile_drill_and_deploy_evidence_stays_text() -> None:
    metrics = canary_metrics()
    metrics["timeline"][HOSTILE] = 1001.0  # not a moment the file declares: dropped
    metrics["analysis"][1]["detail"] = HOSTILE
    metrics["steps"][1]["detail"] = HOSTILE
    drill = {
        "passed": False,
        "fault": HOSTILE,
        "problems": [HOSTILE],
        "reason": HOSTILE,
        "time_to_rollback_seconds": 0.5,
        "clients": {"lost": 3, "sent": 10, "lost_by_cause": {HOSTILE: 2}},
    }
    # Values that are not of their declared type never reach the page: the file is refused.
    for field, value in (("exposed", HOSTILE), ("started", {"x": HOSTILE})):
        bad = canary_metrics()
        bad["timeline"][field] = value
        with pytest.raises(DamagedFile, match="metrics: cannot be read"):
            entry(metrics=bad)
    with pytest.raises(DamagedFile, match="drill: cannot be read"):
        entry(drill={"passed": HOSTILE})
    deploy = entry(drill=drill, metrics=metrics, run_id=RUN_ID)
    history = History(deploys=[deploy])
    page = render(history, None, summary_of(history, None), pipeline=HOSTILE)
    assert "<script" not in page
    assert "<img" not in page
    assert 'src="' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Nothing reaches out: the only address is SVG's namespace.
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "http://attacker.invalid", ""
    )
    assert f'content="{CONTENT_SECURITY_POLICY}"' in page
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none' covers scripts
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none';")
    # A drill whose 'passed' is not true is not shown as passed.
    assert "drill FAILED" in page


def test_headings_say_what_happened() -> None:
    passed = headline(entry(drill={"passed": True}))
    assert passed == ("drill passed: the fault was caught and rolled back", "pass")
    assert headline(entry(drill={"passed": False}))[1] == "fail"
    assert headline(entry(action="rollback", outcome="rolled-back")) == (
        "rolled back on request",
        "neutral",
    )
    assert headline(entry(action="deploy", outcome="rolled-back"))[1] == "fail"
    assert headline(entry(action="deploy", outcome="succeeded"))[1] == "pass"
    page = page_of(entry(drill={"passed": True}, metrics=canary_metrics()))
    assert '<span class="pass headline">drill passed' in page
    assert 'class="rolled-back' not in page


def test_a_drill_says_why_requests_were_lost() -> None:
    clients = {
        "sent": 200,
        "lost": 3,
        "lost_by_cause": {"timeouts": 0, "resets": 1, "router_502": 2, "other": 0},
    }
    page = page_of(entry(drill={"passed": False, "clients": clients}))
    assert "3 of 200 client requests lost (" in page
    assert '<span data-cause="resets">1 resets</span>' in page
    assert '<span data-cause="router_502">2 router 502</span>' in page
    assert 'data-cause="timeouts"' not in page


def test_moments_are_in_time_order() -> None:
    page = page_of(entry(drill={"passed": True}, metrics=canary_metrics()))
    moments = page.split("<h4>Moments</h4>")[1]
    names = re.findall(r'<tr><td class="">([a-z ]+)</td>', moments)
    known = ["started", "exposed", "decision", "traffic on stable"]
    assert names == [*known, "fault seen", "cleanup", "finished"]  # then the unknown ones


def test_a_canary_shows_each_weight_step_with_both_pools_and_the_verdict() -> None:
    metrics = canary_metrics()
    steps = analysis_steps(metrics, 1000.0)
    assert [(s.weight, [m["verdict"] for m in s.measurements]) for s in steps] == [
        (10, ["Successful"]),
        (50, ["Failed"]),
    ]
    page = page_of(entry(drill={"passed": True}, metrics=metrics))
    assert 'data-label="step 1: 10% → Successful"' in page
    assert 'data-label="step 2: 50% → Failed"' in page
    assert 'data-label="decision"' in page
    table = page.split("<h4>Analysis at each step</h4>")[1].split("</table>")[0]
    assert '<td class="">50%</td><td class="">97.30</td><td class="">12.00</td>' in table
    assert '<td class="Failed">Failed</td>' in table


def test_charts_have_visible_titles_axis_labels_and_a_top_tick_above_the_data() -> None:
    chart = lines(
        [Series("a", ((0.0, 9.7), (1.0, 3.0)))],
        title="Latency",
        unit=" ms",
        y_label="p95 latency (ms)",
        x_label="seconds",
    )
    assert '<text x="72" y="18" class="chart-title">Latency</text>' in chart
    assert ">p95 latency (ms)</text>" in chart and ">seconds</text>" in chart
    ticks = [float(t) for t in re.findall(r'class="tick">([0-9.]+) ms<', chart)]
    assert max(ticks) >= 9.7
    for highest in (0.3, 1.0, 9.7, 10.0, 11.0, 97.3, 100.0, 1234.0):
        assert _ticks(highest)[-1] >= highest
        assert len(_ticks(highest)) <= 7


def test_report_html_accepts_the_run_id_a_drill_prints(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    evidence = project / "artifacts" / RUN_ID
    evidence.mkdir(parents=True)
    manifest = {
        "action": "drill",
        "env": "staging",
        "version": "2.0.0",
        "outcome": "rolled-back",
        "reason": "error rate",
    }
    (evidence / "deployment-manifest.json").write_text(json.dumps(manifest))
    (evidence / "deployment-metrics.json").write_text(json.dumps(canary_metrics()))
    drill = {"env": "staging", "strategy": "canary", "fault": "errors", "sla_seconds": 60}
    (evidence / "drill-report.json").write_text(json.dumps({**drill, "passed": True}))
    out = tmp_path / "drill.html"
    assert main(["report", "html", "-C", str(project), "--run", RUN_ID, "--out", str(out)]) == 0
    page = out.read_text()
    assert f'data-run="{RUN_ID}"' in page and "drill passed" in page
    assert main(["report", "html", "-C", str(project), "--run", "nope", "--out", str(out)]) == 2
