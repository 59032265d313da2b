"""The conversion docs/migrating-from-nox-and-tox.md shows, performed on a generated project:
its noxfile.py, tox.ini and pipeline.yaml are taken from the page itself, every command of
every nox session and tox environment has its stage in the plan, and the pipeline runs with
pytest's own counts."""

from __future__ import annotations

import ast
import configparser
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.pipeline_cli import decision, run_pipeline
from tests.integration.real_projects import pytest_own_counts, write_project

pytestmark = pytest.mark.integration
PAGE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-nox-and-tox.md"
BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```\n", re.DOTALL)

PACKAGE = {
    "pyproject.toml": """
        [project]
        name = "inventory"
        version = "1.0.0"
        requires-python = ">=3.11"

        [project.optional-dependencies]
        test = ["pytest>=8"]

        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [tool.setuptools]
        packages = ["inventory"]

        [tool.coverage.run]
        source = ["inventory"]
        """,
    "inventory/__init__.py": '''
        """Stock levels."""


        def restock(level: int, amount: int) -> int:
            """The level after a delivery."""
            if amount < 0:
                raise ValueError("a delivery cannot be negative")
            return level + amount
        ''',
    "tests/test_inventory.py": """
        import pytest

        from inventory import restock


        def test_restock() -> None:
            assert restock(2, 3) == 5


        def test_a_negative_delivery_is_refused() -> None:
            with pytest.raises(ValueError):
                restock(2, -1)


        @pytest.mark.skip(reason="not yet")
        def test_later() -> None:
            pass
        """,
    "docs/build.py": """
        import os
        from pathlib import Path

        out = Path(os.environ["PIPELINES_STAGE_REPORTS"]) / "index.html"
        out.write_text("<h1>inventory</h1>")
        """,
}


def page_files() -> dict[str, str]:
    files = dict(BLOCK.findall(PAGE.read_text()))
    assert set(files) == {"noxfile.py", "tox.ini", "pipeline.yaml"}
    return files


def nox_commands(noxfile: str) -> dict[str, list[list[str]]]:
    """Each session's ``session.run`` argv lists."""
    sessions: dict[str, list[list[str]]] = {}
    for function in ast.parse(noxfile).body:
        if isinstance(function, ast.FunctionDef):
            sessions[function.name] = [
                [ast.literal_eval(arg) for arg in node.args]
                for node in ast.walk(function)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "run"
            ]
    return sessions


def tox_commands(tox_ini: str) -> dict[str, list[list[str]]]:
    """Each tox environment's commands, ``{posargs}`` dropped."""
    parser = configparser.ConfigParser()
    parser.read_string(tox_ini)
    return {
        ("py" if section == "testenv" else section.removeprefix("testenv:")): [
            [word for word in shlex.split(line) if word != "{posargs}"]
            for line in parser[section].get("commands", "").splitlines()
            if line.strip()
        ]
        for section in parser.sections()
        if section.startswith("testenv")
    }


def test_the_documented_conversion_runs(tmp_path: Path) -> None:
    files = page_files()
    project = write_project(tmp_path / "inventory", PACKAGE)
    for name, text in files.items():
        (project / name).write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "plan", "-C", str(project), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    plan = json.loads(done.stdout)
    argv_by_stage = {
        stage["name"]: [" ".join(argv) for argv in [*stage["run"], *stage.get("tools", [])]]
        for stage in plan["stages"]
    }
    # Each session and tox environment's command, and the stage that now runs it.
    wanted = {"tests": "test", "py": "test", "lint": "lint", "docs": "docs"}
    commands = [*nox_commands(files["noxfile.py"]).items(), *tox_commands(files["tox.ini"]).items()]
    for name, argvs in commands:
        for argv in argvs:
            tool = argv[1] if argv[0] == "python" else argv[0]
            assert any(tool in line for line in argv_by_stage[wanted[name]]), (name, argv)
    assert {name for name, _ in commands} == set(wanted)

    code, result = run_pipeline(project, "--env", "ci")
    statuses = {s["name"]: s["status"] for s in result["stages"]}
    assert code == 0, (statuses, (project / "reports/install/log.txt").read_text()[-3000:])
    assert statuses["docs"] == statuses["lint"] == statuses["test"] == "passed"
    assert (project / "reports/docs/index.html").read_text() == "<h1>inventory</h1>"
    own = pytest_own_counts(project, ["-e", ".[test]"], tmp_path)
    tests = decision(project)["tests"]
    assert (tests["passed"], tests["skipped"]) == (own["passed"], own["skipped"]) == (2, 1)
