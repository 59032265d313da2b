"""The HTML report of a real run and a real drill, opened in headless Chromium (Debian's,
driven by Playwright): it renders without console errors or requests, and its charts hold
the run's real numbers. The screenshot is kept as a test artifact."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.integration.deploy_project import deploy_project, stop_everything
from tests.integration.pipeline_cli import run_pipeline
from tests.integration.servers import need

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "reports" / "integration" / "report.png"


def test_the_report_renders_the_real_numbers_in_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = need("chromium")
    need("nginx")
    sync_api = pytest.importorskip("playwright.sync_api")
    state = tmp_path / "state"
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(state))
    project = deploy_project(tmp_path)
    code, result = run_pipeline(project, "--env", "staging")
    assert code == 0, result
    try:
        assert main(["drill", "rollback", "-C", str(project), "--env", "staging"]) == 0
    finally:
        stop_everything(state)
    page_path = tmp_path / "report.html"
    assert main(["report", "html", "-C", str(project), "--out", str(page_path)]) == 0
    # The drill's own page, by the run id it printed.
    drill_id = next((project / "artifacts").glob("*/drill-report.json")).parent.name
    drill_page = tmp_path / "drill.html"
    assert (
        main(["report", "html", "-C", str(project), "--run", drill_id, "--out", str(drill_page)])
        == 0
    )
    assert f'data-run="{drill_id}"' in drill_page.read_text()
    manifest_path = next((project / "artifacts").glob("*/run-manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    decision = json.loads((manifest_path.parent / "gate-decision.json").read_text())
    metrics = json.loads(
        next((project / "artifacts").glob("*/deployment-metrics.json")).read_text()
    )

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1200})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith(("file:", "data:"))
                    else problems.append("request to " + r.url)
                ),
            )
            page.goto(page_path.as_uri())
            assert problems == []
            # The timeline: one bar per stage, each as long as the stage took.
            bars = page.locator("svg.gantt rect.bar")
            assert bars.count() == len(manifest["stages"])
            for index, stage in enumerate(manifest["stages"]):
                bar = bars.nth(index)
                assert bar.get_attribute("data-stage") == stage["name"]
                assert float(bar.get_attribute("data-value") or "nan") == pytest.approx(
                    stage["duration_seconds"], abs=1e-3
                )
                assert bar.bounding_box() is not None  # drawn, not only in the markup
            assert page.locator("#gate-status").inner_text() == decision["status"]
            line = decision["coverage"]["lines_covered"] / decision["coverage"]["lines_valid"]
            assert float(page.locator("#coverage-line").inner_text()) == pytest.approx(
                100 * line, abs=0.01
            )
            # The drill's analysis: the canary's error rate point is the measured one.
            measured = metrics["analysis"][0]["new"]["error_rate"]
            points = page.locator(
                'section.deploy circle.point[data-series="canary (new)"]'
            ).evaluate_all("nodes => nodes.map(n => Number(n.dataset.value))")
            assert pytest.approx(measured, abs=1e-3) in points
            assert page.locator("section.deploy line.marker[data-label='decision']").count() >= 1
            # Headings say what happened: the drill passed, so its rollback is good news.
            headline = page.locator("section.deploy .headline").first
            assert headline.inner_text().startswith("drill passed")
            assert "pass" in (headline.get_attribute("class") or "").split()
            # Each chart shows its title, and its highest value sits under its top tick.
            charts = page.locator("svg.chart.lines")
            assert charts.count() >= 2  # latency and error rate of the drill
            for index in range(charts.count()):
                chart = charts.nth(index)
                title = chart.locator("text.chart-title").text_content()
                assert title, index
                for label in ("text.chart-title", "text.y-label", "text.x-label"):
                    assert chart.locator(label).text_content(), (title, label)
                    assert chart.locator(label).bounding_box() is not None, (title, label)
                values = chart.locator("circle.point").evaluate_all(
                    "nodes => nodes.map(n => Number(n.dataset.value))"
                )
                ticks = chart.locator("text.tick").evaluate_all(
                    "nodes => nodes.map(n => parseFloat(n.textContent))"
                )
                assert values and max(ticks) >= max(values), title
            titles = page.locator("svg.chart text.chart-title").all_text_contents()
            assert "p95 latency: canary (new) against stable" in titles
            highest = max(float(m["new"]["p95_ms"]) for m in metrics["analysis"])
            latency = page.locator(
                "svg.chart:has(text.chart-title:text-is('p95 latency: canary (new) against "
                "stable')) circle.point[data-series='canary (new)']"
            ).evaluate_all("nodes => nodes.map(n => Number(n.dataset.value))")
            assert max(latency) == pytest.approx(highest, abs=0.01)
            # A narrow window: nothing wider than the page.
            page.set_viewport_size({"width": 380, "height": 900})
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= 380 + 1
            page.set_viewport_size({"width": 900, "height": 1200})
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            shutil.copy2(tmp_path / "report.png", SCREENSHOT)
        finally:
            browser.close()
