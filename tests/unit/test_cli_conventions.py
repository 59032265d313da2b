"""The command line behaves the way users of nox, tox and pre-commit expect: machine-readable
output on request, no surprising defaults, options only where they mean something, help and
shell completion that know the project's stages and environments."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.cli.follow import LogTail

PIPELINE = "name: shop\nstages:\n  docs:\n    run: [['true']]\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    return tmp_path


def test_validate_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "flags.yaml").write_text("flags:\n  NEW_CHECKOUT:\n    default: false\n")
    assert main(["validate", "-C", str(project), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {
        "valid": True,
        "pipeline_file": str(project / "pipeline.yaml"),
        "defaults_only": False,
        "pipeline": "shop",
        "environments": ["ci", "production", "staging"],
        "stages": ["install", "lint", "security", "test", "docs", "gate"],
        "flags_file": str(project / "flags.yaml"),
        "flags": 1,
    }


def test_report_summary_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "summary", "-C", str(project), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"title", "gate", "findings", "stages", "deploys"}
    assert data["gate"] is None and data["stages"] == []


def test_deploy_names_its_environment(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "-C", str(project)]) == 2
    assert "the following arguments are required: --env" in capsys.readouterr().err


def test_init_offers_no_report_locations(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "-C", str(project), "--reports", "x"]) == 2
    assert "unrecognized arguments: --reports x" in capsys.readouterr().err
    assert main(["init", "--help"]) == 0
    assert "--artifacts" not in capsys.readouterr().out


def test_stage_help_lists_built_in_and_custom_stages(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stage", "-C", str(project), "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "install, lint, security, test, health, gate; its own: docs" in help_text


def _complete(line: str, cwd: Path, tmp_path: Path) -> list[str]:
    answer = tmp_path / "completions"
    environ = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
    }
    subprocess.run(
        [sys.executable, "-m", "pipelines"], cwd=cwd, env=environ, check=True, timeout=60
    )
    return [word.strip() for word in answer.read_text().split("\013")]


def test_completion_of_commands_stages_and_environments(project: Path, tmp_path: Path) -> None:
    assert {"stage", "status"} <= set(_complete("pipelines st", project, tmp_path))
    stages = _complete("pipelines run ", project, tmp_path)
    assert {"lint", "gate", "docs"} <= set(stages)
    assert _complete("pipelines deploy --env st", project, tmp_path) == ["staging"]
    elsewhere = f"pipelines stage -C {project} d"
    assert _complete(elsewhere, tmp_path, tmp_path) == ["docs"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_for_each_shell(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    code = capsys.readouterr().out
    assert "pipelines" in code and "_ARGCOMPLETE" in code
    if shutil.which(shell) and shell != "fish":
        checked = subprocess.run([shell, "-n"], input=code, text=True, check=False)
        assert checked.returncode == 0


WAITING_STAGE = """\
name: shop
project_env: {enabled: false}
stages:
  install: {enabled: false}
  lint: {enabled: false}
  security: {enabled: false}
  test: {enabled: false}
  gate: {enabled: false}
  hello:
    python: tool
    run:
      - - python
        - -c
        - |
          import pathlib, sys, time
          print("ready \\x1b[31mred", flush=True)
          flag = pathlib.Path(sys.argv[1])
          deadline = time.monotonic() + 120
          while not flag.exists() and time.monotonic() < deadline:
              time.sleep(0.05)
          print("went on" if flag.exists() else "gave up", flush=True)
        - FLAG
"""


def _waiting_project(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "shop"
    project.mkdir()
    flag = tmp_path / "go-on"
    (project / "pipeline.yaml").write_text(WAITING_STAGE.replace("FLAG", str(flag)))
    return project, flag


def test_verbose_streams_a_stage_output_while_it_runs(tmp_path: Path) -> None:
    project, flag = _waiting_project(tmp_path)
    environ = {**os.environ, "FORCE_COLOR": "1"}  # into a pipe: still no redrawn display
    with subprocess.Popen(
        [sys.executable, "-m", "pipelines", "run", "-C", str(project), "-v", "hello"],
        stdout=subprocess.PIPE,
        text=True,
        env=environ,
    ) as running:
        assert running.stdout is not None
        seen = []
        for line in running.stdout:
            seen.append(line)
            if line.startswith("hello | ready"):
                # The stage is still waiting for this file: its output came while it ran.
                flag.touch()
                break
        seen += running.stdout.readlines()
        assert running.wait(timeout=300) == 0
    text = "".join(seen)
    assert "hello | ready ?[31mred" in text  # a tool's escape is printed as text
    assert "\x1b[31" not in text.replace("\x1b[32m", "")
    assert "hello | went on" in text
    assert "hello: running" in text  # plain lines, not a live table: FORCE_COLOR into a pipe
    assert "\x1b[?25l" not in text  # no hidden cursor of a redrawing display
    assert text.index("hello | went on") < text.index("hello: passed")


def test_quiet_prints_only_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project, flag = _waiting_project(tmp_path)
    flag.touch()
    assert main(["run", "-C", str(project), "-q", "hello"]) == 0
    out = capsys.readouterr().out
    assert "hello: running" not in out and "ready" not in out
    assert "hello | passed |" in out or "│ hello │ passed" in out


def test_a_log_replaced_by_a_link_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("do not print\n")
    log = tmp_path / "log.txt"
    log.symlink_to(secret)
    assert LogTail(log).rest() == []


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_log_replaced_by_a_fifo_or_a_directory_is_not_an_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    make = "os.mkfifo(log)" if kind == "fifo" else "os.mkdir(log)"
    code = f"import os; log = 'reports/swap/log.txt'; os.remove(log); {make}; print('gone')"
    (tmp_path / "pipeline.yaml").write_text(
        "stages:\n  install: {enabled: false}\n  lint: {enabled: false}\n"
        "  security: {enabled: false}\n  test: {enabled: false}\n  gate: {enabled: false}\n"
        f"  swap:\n    python: tool\n    run: [[python, -c, {json.dumps(code)}]]\n"
    )
    assert main(["run", "-C", str(tmp_path), "-v", "swap"]) == 0
    assert "swap: passed" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["schema", "pipeline"], ["schema", "plan"]])
def test_a_reader_that_goes_away_is_not_an_internal_error(command: list[str]) -> None:
    # `pipelines ... | head`: the pipe closes before everything is written.
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(1)
    process.stdout.close()
    with process.stderr:
        errors = process.stderr.read().decode()
    assert process.wait(timeout=120) in (0, 141)  # all written before the close, or 141
    assert "internal error" not in errors and "Traceback" not in errors, errors
