"""The Docker runner's commands, image tags and engine errors (no engine needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.child_env import MASK
from pipelines.cli import main
from pipelines.errors import ToolError, UsageError
from pipelines.layout import Layout
from pipelines.plan import PlannedStage
from pipelines.runners.docker import build_failure_hint, docker_run_argv, ensure_toolchain
from pipelines.toolchain import ToolchainSpec, build_context, image_tag, sdk_root


def test_source_is_read_only_and_only_the_stage_reports_are_writable(tmp_path: Path) -> None:
    stage = PlannedStage("test", (("pipelines", "stage", "test"),), env={"B": "2", "A": "1"})
    argv = docker_run_argv(
        stage,
        stage.run[0],
        image="img:1",
        project=tmp_path,
        name="pipelines-x-test-0",
        user="1000:1000",
    )
    assert argv[:6] == ["docker", "run", "--rm", "--init", "--name", "pipelines-x-test-0"]
    assert f"{tmp_path}:/src:ro" in argv
    assert f"{tmp_path}/reports:/reports:ro" in argv
    assert f"{tmp_path}/reports/test:/reports/test" in argv
    assert argv[argv.index("--user") + 1] == "1000:1000"
    # Values stay out of the argv: docker reads them from its own environment.
    envs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--env"]
    assert envs[0] == "HOME=/tmp"
    assert envs[-2:] == ["A", "B"]
    assert "PIPELINES_CACHE_DIR=/cache" in envs
    assert argv[-4:] == ["img:1", "pipelines", "stage", "test"]


def test_the_image_tag_follows_the_contents(tmp_path: Path) -> None:
    spec = ToolchainSpec(sdk_root(), "base:1")
    with build_context(spec) as context:
        first = image_tag(context, "base:1")
        assert image_tag(context, "base:2") != first
        (context / "pipelines" / "extra.py").write_text("x = 1\n")
        assert image_tag(context, "base:1") != first
    with build_context(spec) as context:
        assert image_tag(context, "base:1") == first
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with build_context(ToolchainSpec(sdk_root(), "base:1", ca)) as context:
        assert (context / "containers/extra-ca/extra-ca.pem").read_text() == ca.read_text()
        assert image_tag(context, "base:1") != first


def test_a_missing_ca_bundle_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"PIPELINES_CA_BUNDLE=.*no such file"):
        ToolchainSpec.from_env({"PIPELINES_CA_BUNDLE": str(tmp_path / "none.pem")})


def test_no_docker_engine_exits_2_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert main(["run", "-C", str(tmp_path), "--runner", "docker"]) == 2
    err = capsys.readouterr().err
    assert "no Docker engine is reachable" in err or "needs Docker" in err
    assert "--runner local" in err


def test_the_install_stage_may_write_the_source_and_an_outside_config_is_mounted(
    tmp_path: Path,
) -> None:
    install = PlannedStage(
        "install",
        (("pipelines", "stage", "install", "--config", "/etc/ci/strict.yaml"),),
        source="read-write",
    )
    argv = docker_run_argv(
        install, install.run[0], image="img:1", project=tmp_path, name="n", user=None
    )
    assert f"{tmp_path}:/src:rw" in argv
    assert "/etc/ci/strict.yaml:/etc/ci/strict.yaml:ro" in argv
    assert "portable-pipelines-cache:/cache" in argv
    assert not any(".git" in arg for arg in argv)  # not a git checkout: nothing to cover


def test_a_stage_that_may_write_the_tree_gets_git_read_only(tmp_path: Path) -> None:
    # The host runs git there: a .git/config or hook written by a stage would run on the host.
    (tmp_path / ".git").mkdir()
    install = PlannedStage("install", (("pipelines", "stage", "install"),), source="read-write")
    argv = docker_run_argv(
        install, install.run[0], image="img:1", project=tmp_path, name="n", user=None
    )
    mounts = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--volume"]
    assert mounts.index(f"{tmp_path}:/src:rw") < mounts.index(f"{tmp_path}/.git:/src/.git:ro")


def test_each_host_checkout_keeps_its_own_environment_in_the_shared_volume(
    tmp_path: Path,
) -> None:
    stage = PlannedStage("test", (("pipelines", "stage", "test"),))

    def identity(project: Path) -> dict[str, str]:
        argv = docker_run_argv(stage, stage.run[0], image="i", project=project, name="n", user=None)
        pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--env" and "=" in argv[i + 1]]
        return dict(pair.split("=", 1) for pair in pairs)

    (tmp_path / "a" / "shop").mkdir(parents=True)
    (tmp_path / "b" / "shop").mkdir(parents=True)
    first, second = identity(tmp_path / "a" / "shop"), identity(tmp_path / "b" / "shop")
    assert first["PIPELINES_PROJECT_NAME"] == second["PIPELINES_PROJECT_NAME"] == "shop"
    assert first["PIPELINES_PROJECT_ID"] != second["PIPELINES_PROJECT_ID"]


def test_a_build_that_does_not_trust_the_network_names_the_ca_setting(tmp_path: Path) -> None:
    log = tmp_path / "toolchain-build.log"
    output = "Could not fetch URL https://pypi.org/simple/anyio/: ... CERTIFICATE_VERIFY_FAILED"
    hint = build_failure_hint(output, ToolchainSpec(sdk_root(), "base:1"), log)
    assert "set PIPELINES_CA_BUNDLE" in hint
    assert str(log) in hint
    ca = tmp_path / "ca.pem"
    with_ca = build_failure_hint(output, ToolchainSpec(sdk_root(), "base:1", ca), log)
    assert with_ca == f"the whole build output is in {log}"
    other = build_failure_hint("E: no space left", ToolchainSpec(sdk_root(), "base:1"), log)
    assert other == f"the whole build output is in {log}"


def test_the_plan_for_the_docker_runner_states_the_toolchain_image_and_its_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An engine that has the image and answers the version file the Dockerfile writes.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        'case "$1 $*" in\n'
        '  *"/etc/pipelines-python-version"*) echo 3.12.7 ;;\n'
        "  version*) echo 27.0 ;;\n"
        "esac\n"
        "exit 0\n"
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    project = tmp_path / "project"
    project.mkdir()
    assert main(["plan", "-C", str(project), "--runner", "docker", "--json"]) == 0
    runner = json.loads(capsys.readouterr().out)["runner"]
    assert runner["name"] == "docker"
    assert runner["python"] == "3.12.7"
    assert runner["image"].startswith("portable-pipelines-toolchain:")
    assert main(["plan", "-C", str(project), "--runner", "docker"]) == 0
    assert f"runner: docker, image {runner['image']}, Python 3.12.7" in capsys.readouterr().out


FAKE_DOCKER = """#!/bin/sh
case "$1 $2" in
  "image inspect") exit 1 ;;
esac
echo "step 1: using proxy with $DEPLOY_TOKEN"
echo "failed at $DEPLOY_TOKEN" >&2
exit 1
"""


def test_the_toolchain_build_log_masks_secrets_and_never_writes_through_a_link(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    victim = tmp_path / "bashrc"
    victim.write_text("mine")
    project = tmp_path / "project"
    (project / "reports").mkdir(parents=True)
    (project / "reports" / "toolchain-build.log").symlink_to(victim)
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", "DEPLOY_TOKEN": "s3cr3t-deploy-token"}
    with pytest.raises(ToolError, match="building the toolchain image failed") as raised:
        ensure_toolchain(ToolchainSpec(sdk_root(), "base:1"), Layout.of(project, {}), environ)
    assert "s3cr3t-deploy-token" not in raised.value.message
    assert victim.read_text() == "mine"
    log = project / "reports" / "toolchain-build.log"
    assert not log.is_symlink()
    text = log.read_text()
    assert "s3cr3t-deploy-token" not in text and MASK in text
