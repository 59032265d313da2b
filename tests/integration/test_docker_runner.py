"""The Docker runner on a real Docker engine: same reports and decision as the local runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.config.pipeline import load_config
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.load import LoadGenerator
from pipelines.layout import Layout
from pipelines.plan import Plan, PlannedStage
from pipelines.runners.docker import DockerRunner
from pipelines.runners.results import RunStatus
from tests.integration.deploy_project import deploy_project, listen, open_decision, serves
from tests.integration.images import build_service_image
from tests.integration.pipeline_cli import decision, run_pipeline
from tests.integration.real_projects import MACHINE_PROBE, SRC_LAYOUT, write_project
from tests.integration.servers import need

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "version"], capture_output=True, check=False)
    return done.returncode == 0


LOCAL_BASE = "portable-pipelines/base:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="module", autouse=True)
def needs_docker() -> Iterator[None]:
    if not docker_ready():
        if os.environ.get("PIPELINES_REQUIRE_DOCKER") == "1" or os.environ.get("CI") == "true":
            pytest.fail("PIPELINES_REQUIRE_DOCKER=1 but no Docker engine answers")
        pytest.skip("no Docker engine (scripts/test starts one where it can)")
    with pytest.MonkeyPatch.context() as patch:
        # Without a registry, use the base image scripts/test built from Debian packages.
        local_base = (
            subprocess.run(
                ["docker", "image", "inspect", LOCAL_BASE], capture_output=True, check=False
            ).returncode
            == 0
        )
        if "PIPELINES_BASE_IMAGE" not in os.environ and local_base:
            patch.setenv("PIPELINES_BASE_IMAGE", LOCAL_BASE)
        if "PIPELINES_CA_BUNDLE" not in os.environ and HOST_CA.is_file():
            patch.setenv("PIPELINES_CA_BUNDLE", str(HOST_CA))
        yield


def test_docker_and_local_runners_agree(example_copy: Path, tmp_path: Path) -> None:
    local_copy = tmp_path / "local"
    shutil.copytree(example_copy, local_copy)
    code, result = run_pipeline(example_copy, "--runner", "docker")
    assert code == 0, (result, (example_copy / "reports/test/log.txt").read_text())
    assert result["runner"] == "docker"
    local_code, _ = run_pipeline(local_copy, "--runner", "local")
    assert local_code == 0
    in_docker, on_host = decision(example_copy), decision(local_copy)
    assert in_docker["status"] == on_host["status"] == "open"
    for key in ("passed", "failed", "errors", "skipped", "flaky", "executed", "records"):
        assert in_docker["tests"][key] == on_host["tests"][key], key
    assert in_docker["coverage"]["lines_valid"] == on_host["coverage"]["lines_valid"]
    assert in_docker["coverage"]["lines_covered"] == on_host["coverage"]["lines_covered"]
    assert [r["name"] for r in in_docker["rules"]] == [r["name"] for r in on_host["rules"]]
    for name in ("lint", "security", "test"):
        assert (example_copy / "reports" / name / "result.json").is_file()
    assert (Path(result["artifacts"]) / "run-manifest.json").is_file()
    # The source was mounted read-only: nothing but reports/ and artifacts/ appeared.
    created = {p.name for p in example_copy.iterdir()} - {p.name for p in local_copy.iterdir()}
    assert created == set()


def test_a_real_src_layout_project_passes_in_containers_as_on_the_host(tmp_path: Path) -> None:
    project = write_project(tmp_path / "calc", SRC_LAYOUT)
    code, result = run_pipeline(project, "--runner", "docker", "--env", "ci")
    statuses = {s["name"]: s["status"] for s in result["stages"]}
    assert code == 0, (statuses, (project / "reports/install/log.txt").read_text()[-3000:])
    tests = json.loads((project / "reports/test/result.json").read_text())["details"]["tests"]
    # What pytest itself counts in a prepared venv (tests/integration/test_real_projects.py).
    assert (tests["passed"], tests["skipped"], tests["xfailed"]) == (3, 1, 1)
    gate = decision(project)
    assert gate["status"] == "open"
    assert gate["tests"]["passed"] == 4


def test_the_service_image_serves_health_and_metrics(tmp_path: Path) -> None:
    tag = build_service_image(tmp_path, "portable-pipelines-service:test")
    name = f"pipelines-service-test-{os.getpid()}"
    started = subprocess.run(
        [
            "docker",
            "run",
            "--detach",
            "--rm",
            "--name",
            name,
            "--publish",
            "127.0.0.1::8080",
            "--env",
            "SERVICE_VERSION=9.9.9",
            tag,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert started.stdout.strip()
    try:
        port = (
            subprocess.run(
                ["docker", "port", name, "8080/tcp"], capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .rsplit(":", 1)[1]
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    assert json.load(answer) == {"service": "example", "version": "9.9.9"}
                    break
            except OSError:
                assert time.monotonic() < deadline, "the service never answered"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert b"http_requests_total" in answer.read()
        user = subprocess.run(
            ["docker", "exec", name, "id", "-u"], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert user == "65534"  # not root
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)


def test_a_missing_command_is_named_as_on_the_host(tmp_path: Path) -> None:
    plan = Plan("p", "ci", (PlannedStage("x", (("no-such-tool-4711",),)),))
    result = DockerRunner(tmp_path).run(plan)
    (stage,) = result.stages
    assert stage.status is RunStatus.FAILED
    assert stage.reason == "no-such-tool-4711: not found in the toolchain image"


def test_this_repository_s_own_unit_tests_pass_in_the_toolchain_container(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    code, result = run_pipeline(
        root,
        "--runner",
        "docker",
        "--env",
        "container",
        "--reports",
        str(tmp_path / "reports"),
        "--artifacts",
        str(tmp_path / "artifacts"),
        "install",
        "test",
    )
    statuses = {s["name"]: s["status"] for s in result["stages"]}
    assert code == 0, (statuses, (tmp_path / "reports/test/log.txt").read_text()[-3000:])
    tests = json.loads((tmp_path / "reports/test/result.json").read_text())["details"]["tests"]
    assert tests["passed"] > 200 and tests["failed"] == tests["errors"] == 0
    assert result["skipped"][0]["name"] == "integration"


def test_the_docker_target_deploys_and_rolls_back_behind_nginx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("nginx")
    image = build_service_image(tmp_path, "portable-pipelines-service:deploy-test")
    state = tmp_path / "state"
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(state))
    project = deploy_project(tmp_path, target="docker", strategy="blue-green")
    config = yaml.safe_load((project / "pipeline.yaml").read_text())
    config["service"].update(image=image, container_port=8080)
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    open_decision(project)
    args = ["-C", str(project), "--env", "staging"]
    try:
        assert main(["deploy", *args, "--version", "1.0.0"]) == 0
        assert serves(project) == "1.0.0"
        with LoadGenerator(f"http://{listen(project)}/", rate=50) as load:
            assert main(["deploy", *args, "--version", "2.0.0"]) == 0
            assert serves(project) == "2.0.0"
            assert main(["rollback", *args]) == 0
        assert serves(project) == "1.0.0"
        assert load.result.sent > 20 and load.result.lost == []
        running = subprocess.run(
            ["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=True
        ).stdout.split()
        mine = sorted(
            name
            for name in running
            if name.endswith(("-r1-0", "-r1-1", "-r2-0", "-r2-1")) and name.startswith("pp-")
        )
        assert [name.rsplit("-", 2)[-2] for name in mine] == ["r1", "r1"]
    finally:
        for target in DeployEnv.open(
            project, load_config(project), "staging", Layout.of(project), os.environ
        ).targets():
            target.shutdown()


# Run inside the container: show the environment, then plant links to host files where the
# host will copy a kept report and write the next run's log.
PLANT = (
    "import json, os, sys\n"
    "open('reports/plant/env.json', 'w').write(json.dumps(dict(os.environ)))\n"
    "secret, victim = sys.argv[1], sys.argv[2]\n"
    "for name, to in (('kept.txt', secret), ('log.txt', victim)):\n"
    "    path = 'reports/plant/' + name\n"
    "    os.remove(path) if os.path.lexists(path) else None\n"
    "    os.symlink(to, path)\n"
)


def test_a_container_stage_cannot_reach_host_files_or_the_sdks_secrets(tmp_path: Path) -> None:
    outside = tmp_path / "host"
    outside.mkdir()
    secret, victim = outside / "id_rsa", outside / "profile"
    secret.write_text("PRIVATE KEY")
    victim.write_text("mine")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pipeline.yaml").write_text(
        "stages:\n  install: {enabled: false}\n  lint: {enabled: false}\n"
        "  security: {enabled: false}\n  test: {enabled: false}\n  gate: {enabled: false}\n"
        "  plant:\n    python: tool\n    pass_env: [PASSED_ON]\n"
        "    artifacts: [reports/plant/kept.txt]\n"
        f"    run: [[python, -c, {json.dumps(PLANT)}, {secret}, {victim}]]\n"
    )
    environ = {
        **os.environ,
        "PIPELINES_AUDIT_KEY": "audit-key-value",
        "CLOUD_SECRET_TOKEN": "cloud-token-value",
        "PASSED_ON": "passed-value",
    }
    argv = [sys.executable, "-m", "pipelines", "run", "-C", str(project), "--json"]
    for attempt in (1, 2):
        done = subprocess.run(
            [*argv, "--runner", "docker"],
            capture_output=True,
            text=True,
            env=environ,
            timeout=1800,
            check=False,
        )
        assert done.returncode == 0, (attempt, done.stdout, done.stderr)
        result = json.loads(done.stdout)
        # The second run's log replaced the link the first left instead of writing through it.
        assert victim.read_text() == "mine"
        env = json.loads((project / "reports" / "plant" / "env.json").read_text())
        assert env["PASSED_ON"] == "passed-value"
        assert not {"PIPELINES_AUDIT_KEY", "CLOUD_SECRET_TOKEN"} & set(env)
        collected = Path(result["artifacts"])
        assert all("PRIVATE KEY" not in p.read_text() for p in collected.rglob("*") if p.is_file())
    assert secret.read_text() == "PRIVATE KEY"


# A stage that may write the tree (the install stage: build backends write egg-info) tries
# to leave git config and a hook that the host's own git would run.
OVERWRITE_GIT = (
    "import pathlib\n"
    "for path, text in (('.git/config', '[core]\\n\\tfsmonitor = ./evil.sh\\n'),\n"
    "                   ('.git/hooks/post-index-change', '#!/bin/sh\\ntouch pwned\\n'),\n"
    "                   ('built.txt', 'egg-info and such')):\n"
    "    try:\n"
    "        pathlib.Path(path).write_text(text)\n"
    "        print('wrote', path)\n"
    "    except OSError as exc:\n"
    "        print('refused', path, exc.strerror)\n"
)


def test_a_stage_that_may_write_the_tree_cannot_write_git_config_or_hooks(
    tmp_path: Path,
) -> None:
    git = ["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a"]
    (tmp_path / "app.py").write_text("print('app')\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    config = (tmp_path / ".git" / "config").read_text()
    stage = PlannedStage("install", (("python3", "-c", OVERWRITE_GIT),), source="read-write")
    result = DockerRunner(tmp_path).run(Plan("p", "ci", (stage,)))
    (done,) = result.stages
    log = (tmp_path / "reports" / "install" / "log.txt").read_text()
    assert done.status is RunStatus.PASSED, log
    assert "wrote built.txt" in log  # the tree itself is writable, as the stage needs
    assert "refused .git/config" in log and "refused .git/hooks/post-index-change" in log
    assert (tmp_path / ".git" / "config").read_text() == config
    assert not (tmp_path / ".git" / "hooks" / "post-index-change").exists()


def test_a_project_s_own_tools_and_tests_give_the_same_counts_in_containers(
    tmp_path: Path,
) -> None:
    host = write_project(tmp_path / "host" / "shapes", MACHINE_PROBE)
    boxed = write_project(tmp_path / "boxed" / "shapes", MACHINE_PROBE)
    host_code, host_run = run_pipeline(host, "--env", "ci")
    code, run = run_pipeline(boxed, "--runner", "docker", "--env", "ci")
    assert host_code == 0, host_run
    assert code == 0, (run, (boxed / "reports/test/log.txt").read_text()[-3000:])
    on_host, in_docker = decision(host), decision(boxed)
    # Every count the gate judged: tests, coverage, findings by severity.
    for section in ("tests", "coverage", "findings"):
        counts = {k: v for k, v in on_host[section].items() if isinstance(v, int | float)}
        assert {k: in_docker[section].get(k) for k in counts} == counts, section
    assert in_docker["tests"]["passed"] == 11
    # And what each stage counted itself.
    results = {
        stage: [
            json.loads((p / "reports" / stage / "result.json").read_text()) for p in (host, boxed)
        ]
        for stage in ("lint", "security", "test")
    }
    for stage, (here, there) in results.items():
        ending = (there["status"], len(there["findings"]))
        assert ending == (here["status"], len(here["findings"])), stage
    assert results["lint"][1]["details"] == results["lint"][0]["details"]
    tests = [
        {k: v for k, v in r["details"]["tests"].items() if k != "sources"} for r in results["test"]
    ]
    assert tests[1] == tests[0]
    scanners = [
        {name: (s["status"], s["findings"]) for name, s in r["details"]["scanners"].items()}
        for r in results["security"]
    ]
    assert scanners[1] == scanners[0]
    assert (
        results["security"][1]["details"]["by_severity"]
        == (results["security"][0]["details"]["by_severity"])
    )
    lint = json.loads((boxed / "reports/lint/result.json").read_text())
    assert lint["details"]["tools"] == {"flake8": "0 finding(s)", "black": "0 finding(s)"}


BUILDING_STAGE = {
    "setup.py": (
        'from setuptools import setup\n\nsetup(name="tiny", version="1.0", py_modules=["tiny"])\n'
    ),
    "tiny.py": "VALUE = 1\n",
    "pipeline.yaml": """\
project_env: {enabled: false}
stages:
  build:
    run:
      - [python, setup.py, -q, egg_info]
      - [python, setup.py, -q, build, --build-base, build]
      - [python, -c, "import shutil; shutil.copytree('build/lib', 'reports/build/lib')"]
    artifacts: [reports/build/lib]
""",
}


def test_a_custom_stage_that_builds_works_in_a_container_and_leaves_the_checkout_clean(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path / "tiny", BUILDING_STAGE)
    before = sorted(p.name for p in project.iterdir())
    code, result = run_pipeline(project, "--runner", "docker", "build")
    assert code == 0, (result, (project / "reports/build/log.txt").read_text()[-3000:])
    assert (project / "reports/build/lib/tiny.py").read_text() == "VALUE = 1\n"
    assert (Path(result["artifacts"]) / "reports/build/lib/tiny.py").is_file()
    # No build/ and no tiny.egg-info beside the source: only the run's own directories.
    assert sorted(p.name for p in project.iterdir()) == sorted([*before, "artifacts", "reports"])


def test_the_plan_states_the_python_of_the_toolchain_image(tmp_path: Path) -> None:
    plan = ["plan", "-C", str(tmp_path), "--runner", "docker", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", *plan],
        capture_output=True,
        text=True,
        check=True,
    )
    runner = json.loads(done.stdout)["runner"]
    version = "import platform; print(platform.python_version())"
    inside = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python3", runner["image"], "-c", version],
        capture_output=True,
        text=True,
        check=True,
    )
    assert runner["python"] == inside.stdout.strip()
