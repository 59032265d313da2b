"""What a child gets of the invoking environment: the declared defaults, what pipeline.yaml
passes, never the SDK's own secrets; secret-looking values passed to a stage are masked."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import anyio
import pytest

from pipelines.child_env import MASK, Masker, child_environment, secret_values
from pipelines.cli import main
from pipelines.config.deploy import ServiceSettings
from pipelines.config.health import HealthCheck
from pipelines.config.pipeline import load_config
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.local import LocalRuntime
from pipelines.deploy.target import Release
from pipelines.errors import ToolError
from pipelines.health.probes import _run_keeping_tail, probe_command
from pipelines.layout import Layout
from pipelines.plan import Plan, PlannedStage, build_plan
from pipelines.runners.docker import docker_run_argv
from pipelines.runners.local import LocalRunner

HOST = {
    "PATH": "/usr/bin",
    "HOME": "/home/me",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HTTPS_PROXY": "http://proxy:3128",
    "SSL_CERT_FILE": "/etc/ssl/ca.pem",
    "CI": "true",
    "GITHUB_SHA": "abc123",
    "GITHUB_TOKEN": "ghs_secret_token_value",
    "CI_JOB_TOKEN": "gitlab-job-token",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "AWS_REGION": "eu-west-1",
    "PIPELINES_AUDIT_KEY": "the-audit-key",
    "PIPELINES_APPROVED_BY": "alice",
    "PIPELINES_BASE_IMAGE": "base:1",
    "SOMETHING_ELSE": "x",
}


def test_a_child_gets_the_defaults_and_no_credential() -> None:
    env = child_environment(HOST)
    assert env == {
        key: HOST[key]
        for key in (
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "HTTPS_PROXY",
            "SSL_CERT_FILE",
            "CI",
            "GITHUB_SHA",
            "PIPELINES_BASE_IMAGE",
        )
    }


def test_pass_env_takes_names_and_globs_but_never_the_sdk_secrets() -> None:
    env = child_environment(HOST, pass_env=("AWS_*", "GITHUB_TOKEN", "PIPELINES_*", "*"))
    assert env["AWS_SECRET_ACCESS_KEY"] == HOST["AWS_SECRET_ACCESS_KEY"]
    assert env["GITHUB_TOKEN"] == HOST["GITHUB_TOKEN"]
    assert "PIPELINES_AUDIT_KEY" not in env
    assert "PIPELINES_APPROVED_BY" not in env
    declared = child_environment(HOST, declared={"PIPELINES_AUDIT_KEY": "x", "MODE": "fast"})
    assert "PIPELINES_AUDIT_KEY" not in declared
    assert declared["MODE"] == "fast"


def test_a_container_gets_no_host_paths() -> None:
    env = child_environment(HOST, pass_env=("AWS_REGION",), container=True)
    assert env == {
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "CI": "true",
        "GITHUB_SHA": "abc123",
        "AWS_REGION": "eu-west-1",
    }


def test_masking_holds_across_chunk_boundaries() -> None:
    masker = Masker(["s3cr3t-value", "s3cr3t"])
    text = b"start s3cr3t-value middle s3cr3t end"
    out = b"".join(masker.feed(text[i : i + 3]) for i in range(0, len(text), 3))
    out += masker.flush()
    assert out == f"start {MASK} middle {MASK} end".encode()


PRINT_ENV = "import os, json; print(json.dumps(dict(os.environ), sort_keys=True))"


def test_a_host_stage_sees_only_its_environment_and_its_log_masks_secrets(
    tmp_path: Path,
) -> None:
    environ = {**HOST, "PATH": "/usr/bin:/bin"}
    stage = PlannedStage(
        "show", ((sys.executable, "-c", PRINT_ENV),), pass_env=("GITHUB_TOKEN", "AWS_REGION")
    )
    result = LocalRunner(tmp_path, environ=environ).run(Plan("p", "ci", (stage,)))
    assert result.ok
    log = (tmp_path / "reports" / "show" / "log.txt").read_text()
    assert "AWS_REGION" in log
    assert "aws-secret-value" not in log and "AWS_SECRET_ACCESS_KEY" not in log
    assert "the-audit-key" not in log and "PIPELINES_APPROVED_BY" not in log
    # Passed on purpose, so the stage has it, but no log the SDK writes shows it.
    assert '"GITHUB_TOKEN": "***"' in log
    assert "ghs_secret_token_value" not in log


def test_pass_env_is_declared_at_the_top_per_environment_and_per_stage(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "pass_env: [AWS_*]\n"
        "environments:\n  staging:\n    pass_env: [DEPLOY_TOKEN]\n"
        "stages:\n  lint:\n    pass_env: [RUFF_*]\n"
    )
    config = load_config(tmp_path)
    stages = {s.name: s for s in build_plan(config, "staging").stages}
    assert stages["lint"].pass_env == ("AWS_*", "DEPLOY_TOKEN", "RUFF_*")
    assert stages["test"].pass_env == ("AWS_*", "DEPLOY_TOKEN")
    assert {s.name: s for s in build_plan(config, "ci").stages}["test"].pass_env == ("AWS_*",)


def test_a_container_is_given_passed_variables_by_name_only(tmp_path: Path) -> None:
    stage = PlannedStage("test", (("pytest",),), env={"MODE": "x"})
    passed = child_environment(HOST, pass_env=("AWS_REGION",), container=True)
    argv = docker_run_argv(
        stage, stage.run[0], image="i", project=tmp_path, name="n", user=None, passed=passed
    )
    given = {argv[i + 1] for i, arg in enumerate(argv) if arg == "--env"}
    assert {"AWS_REGION", "MODE", "CI", "LANG"} <= given
    assert not any("eu-west-1" in arg for arg in argv)  # values never on the command line
    assert not {"PATH", "GITHUB_TOKEN", "PIPELINES_AUDIT_KEY"} & given


def test_a_deployed_local_instance_gets_the_declared_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in HOST.items():
        if key != "PATH":
            monkeypatch.setenv(key, value)
    dump = "import os, json; open('env.json', 'w').write(json.dumps(dict(os.environ)))"
    service = ServiceSettings(command=("python", "-c", dump), env={"MODE": "{version}"})
    runtime = LocalRuntime(
        home=tmp_path / "home",
        service=service,
        env={"STAGE": "yes"},
        pass_env=("AWS_REGION",),
    )
    release = Release("r1", "1.0", "c1", tmp_path / "release")
    release.directory.mkdir()
    runtime.records.directory.mkdir(parents=True)
    runtime._launch("i1", release, 18080)
    written = release.directory / "env.json"
    deadline = time.monotonic() + 60
    while not written.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    env = json.loads(written.read_text())
    assert (env["MODE"], env["STAGE"], env["PORT"], env["AWS_REGION"]) == (
        "1.0",
        "yes",
        "18080",
        "eu-west-1",
    )
    assert not {"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "PIPELINES_AUDIT_KEY"} & set(env)


def test_a_command_health_check_gets_no_secret_of_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIPELINES_AUDIT_KEY", "the-callers-audit-key")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_the_callers_token")
    code = (
        "import os, sys; print(os.environ.get('PIPELINES_AUDIT_KEY'),"
        " os.environ.get('GITHUB_TOKEN'), 'PATH' in os.environ); sys.exit(3)"
    )
    check = HealthCheck(name="env", command=(sys.executable, "-c", code))
    outcome = anyio.run(probe_command, check, check.command or ())
    assert not outcome.ok
    assert outcome.detail == "exit 3, expected 0: None None True"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie is dead, only not reaped (by init, here)


def test_a_command_check_stopped_at_its_timeout_leaves_nothing_running(tmp_path: Path) -> None:
    started = tmp_path / "pid"
    code = (
        "import subprocess, sys, time; child = subprocess.Popen(['sleep', '300']);"
        f"open({str(started)!r}, 'w').write(str(child.pid)); time.sleep(300)"
    )

    async def stopped_once_it_has_started() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(_run_keeping_tail, (sys.executable, "-c", code))
            while not started.is_file() or not started.read_text():
                await anyio.sleep(0.05)
            group.cancel_scope.cancel()  # what the check's timeout does

    anyio.run(stopped_once_it_has_started)
    assert not _running(int(started.read_text()))


def test_building_the_project_environment_for_a_deploy_gets_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The build runs the project's own code: its build backend, or project_env.install.
    project = tmp_path / "shop"
    project.mkdir()
    written = str(tmp_path / "env.json")
    dump = f"import os, json; open({written!r}, 'w').write(json.dumps(dict(os.environ)))"
    (project / "pipeline.yaml").write_text(
        "version: 1\nname: shop\n"
        f"project_env: {{install: [[python, -c, {json.dumps(dump)}]]}}\n"
        "service: {command: [python, -m, shop, --port, '{port}']}\n"
    )
    secrets = {"PIPELINES_AUDIT_KEY": "the-audit-key", "CLOUD_TOKEN": "cloud-token-value"}
    for key, value in {**secrets, "PIPELINES_STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PIPELINES_CACHE_DIR", str(tmp_path / "cache"))
    config = load_config(project)
    denv = DeployEnv.open(project, config, "staging", Layout.of(project, {}), dict(os.environ))
    assert denv.python() is not None
    env = json.loads((tmp_path / "env.json").read_text())
    assert "PATH" in env
    assert not set(secrets) & set(env)


def test_ci_command_files_and_job_tokens_never_reach_a_child_by_default() -> None:
    # GitHub reads these files after the step: a line in GITHUB_ENV sets a variable for every
    # later step (LD_PRELOAD, NODE_OPTIONS), one in GITHUB_OUTPUT forges an output.
    runner = {
        "GITHUB_ENV": "/home/runner/work/_temp/_runner_file_commands/set_env_1",
        "GITHUB_OUTPUT": "/home/runner/work/_temp/_runner_file_commands/set_output_1",
        "GITHUB_PATH": "/home/runner/work/_temp/_runner_file_commands/add_path_1",
        "GITHUB_STATE": "/home/runner/work/_temp/_runner_file_commands/save_state_1",
        "GITHUB_STEP_SUMMARY": "/home/runner/work/_temp/_runner_file_commands/step_summary_1",
        "CI_JOB_JWT": "eyJhbGciOi.the-gitlab-oidc-token",
        "CI_JOB_JWT_V2": "eyJhbGciOi.the-gitlab-oidc-token-v2",
        "GITHUB_REPOSITORY": "shop/shop",
    }
    env = child_environment(runner)
    assert env == {"GITHUB_REPOSITORY": "shop/shop"}
    # Passed by name they go, as anything does (and a JWT's value is masked in logs).
    passed = child_environment(runner, pass_env=("GITHUB_STEP_SUMMARY", "CI_JOB_JWT"))
    assert set(passed) == {"GITHUB_REPOSITORY", "GITHUB_STEP_SUMMARY", "CI_JOB_JWT"}
    assert secret_values(passed) == (runner["CI_JOB_JWT"],)


def test_a_stage_run_directly_gives_its_tools_none_of_the_sdks_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `pipelines stage NAME` in a CI step of its own: no runner chose its environment.
    written = tmp_path / "env.json"
    dump = f"import os, json; open({str(written)!r}, 'w').write(json.dumps(dict(os.environ)))"
    (tmp_path / "pipeline.yaml").write_text(
        f"stages:\n  dump:\n    python: tool\n    run: [[python, -c, {json.dumps(dump)}]]\n"
    )
    monkeypatch.setenv("PIPELINES_AUDIT_KEY", "the-audit-key")
    monkeypatch.setenv("PIPELINES_APPROVED_BY", "alice")
    assert main(["stage", "dump", "-C", str(tmp_path)]) == 0
    env = json.loads(written.read_text())
    assert "PATH" in env
    assert not {"PIPELINES_AUDIT_KEY", "PIPELINES_APPROVED_BY"} & set(env)


def test_a_deploys_project_environment_build_masks_what_it_was_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    leak = "import os, sys; print('index auth', os.environ['DEPLOY_TOKEN']); sys.exit(1)"
    (project / "pipeline.yaml").write_text(
        "version: 1\nname: shop\npass_env: [DEPLOY_TOKEN]\n"
        f"project_env: {{install: [[python, -c, {json.dumps(leak)}]]}}\n"
        "service: {command: [python, -m, shop, --port, '{port}']}\n"
    )
    monkeypatch.setenv("DEPLOY_TOKEN", "s3cr3t-deploy-token")
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PIPELINES_CACHE_DIR", str(tmp_path / "cache"))
    config = load_config(project)
    denv = DeployEnv.open(project, config, "staging", Layout.of(project, {}), dict(os.environ))
    with pytest.raises(ToolError) as failed:
        denv.python()
    assert "s3cr3t-deploy-token" not in failed.value.message
    log = (denv.directory / "project-env.log").read_text()
    assert "s3cr3t-deploy-token" not in log and f"index auth {MASK}" in log
