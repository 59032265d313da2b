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
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            shutil.copy2(tmp_path / "report.png", SCREENSHOT)
        finally:
            browser.close()
