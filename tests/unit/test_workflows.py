"""The CI files users get and this repository runs: every Dagger call survives the way
dagger-for-github assembles it, code scanning gets the SARIF, and the GitLab example is
right for another repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from pipelines.scaffold import scaffold

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# Expressions whose values never hold a quote, a space or a shell character.
SAFE_EXPRESSIONS = {"github.sha", "github.run_id", "github.repository", "matrix.strategy"}
SAFE_WORD = re.compile(r"[A-Za-z0-9_./:=,@+-]+")
SUMMARY_FILE = "$GITHUB_STEP_SUMMARY"  # expanded by the action's bash, on purpose


def dagger_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("dagger/dagger-for-github@")
    ]


def calls(path: Path) -> list[str]:
    workflow = yaml.safe_load(path.read_text())
    return [str(step["with"]["call"]) for step in dagger_steps(workflow)]


def as_the_action_runs_it(call: str) -> list[str]:
    """dagger-for-github v8.4.1 pastes ``call`` into a bash conditional after GitHub has
    replaced its expressions: run that assembly (with a stand-in for each value) and return
    the words dagger would get."""
    expanded = re.sub(r"\$\{\{\s*([a-z_.]+)\s*\}\}", lambda m: "VALUE-" + m.group(1), call)
    script = f'if [[ -n "x" ]]; then printf "%s\\n" {expanded}; fi'
    done = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": "/tmp/summary.md"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (call, done.stderr)
    return done.stdout.splitlines()


def test_every_dagger_call_survives_the_action_assembly(tmp_path: Path) -> None:
    scaffold(tmp_path, module="github.com/acme/portable-pipelines@v1.2.3")
    files = [*WORKFLOWS, tmp_path / ".github" / "workflows" / "ci.yml"]
    seen = 0
    for path in files:
        for call in calls(path):
            seen += 1
            used = set(re.findall(r"\$\{\{\s*([a-z_.]+)\s*\}\}", call))
            assert used <= SAFE_EXPRESSIONS, (path.name, call)
            words = re.sub(r"\$\{\{\s*([a-z_.]+)\s*\}\}", r"VALUE-\1", call).split()
            for word in words:
                assert word == SUMMARY_FILE or SAFE_WORD.fullmatch(word), (path.name, word)
            # Each word reaches dagger whole: no quote, no space inside a value, no glob.
            expected = [w.replace(SUMMARY_FILE, "/tmp/summary.md") for w in words]
            assert as_the_action_runs_it(call) == expected, (path.name, call)
    assert seen >= 10


def test_the_production_approval_is_one_word() -> None:
    (call,) = [c for c in calls(ROOT / ".github/workflows/deploy.yml") if "--approved-by" in c]
    words = as_the_action_runs_it(call)
    (approval,) = [w for w in words if w.startswith("--approved-by=")]
    assert approval == "--approved-by=github-environment:production/run:VALUE-github.run_id"


def test_ci_uploads_the_sarif_to_code_scanning_with_a_pinned_action() -> None:
    for path in (ROOT / ".github/workflows/ci.yml", ROOT / "pipelines/templates/ci.yml"):
        text = path.read_text()
        (uses,) = re.findall(r"uses: (github/codeql-action/upload-sarif@\S+)", text)
        assert re.fullmatch(r"github/codeql-action/upload-sarif@[0-9a-f]{40}", uses)
        assert "sarif_file: reports/security/security.sarif" in text
        assert "security-events: write" in text
        assert "call: " in text and "annotations --reports=reports" in text


def test_the_gitlab_example_runs_docker_in_docker_and_publishes_junit() -> None:
    example = yaml.safe_load((ROOT / "docs/examples/gitlab-ci.yml").read_text())
    job = example["pipeline"]
    assert any(str(s).endswith("-dind") for s in job["services"])
    # dind serves TLS on 2376 unless this is empty; the job talks plain TCP on 2375.
    assert job["variables"]["DOCKER_TLS_CERTDIR"] == ""
    assert job["variables"]["DOCKER_HOST"] == "tcp://docker:2375"
    dagger_lines = [line for line in job["script"] if line.startswith("dagger ")]
    assert dagger_lines and all("-m " in line and " --source=. " in line for line in dagger_lines)
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "reports/test/junit.xml"
    docs = (ROOT / "docs/ci-integration.md").read_text()
    assert "examples/gitlab-ci.yml" in docs
