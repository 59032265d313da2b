"""Two real project layouts, written fresh by the tests: nothing is installed by hand.

- ``src_layout``: setuptools with a src/ package, a PEP 735 ``test`` group, a third-party
  import the SDK's own environment lacks (six), its own mypy ``files``, a pinned commit hash in
  .pre-commit-config.yaml, xfail and skip markers, and a custom stage whose JUnit feeds the gate.
- ``flat_layout``: a flat package named in pyproject.toml, its dependency in requirements.txt
  and its test tools in a ``test`` extra, tests next to it.
- ``pre_commit_pins``: ruff pinned to an older release by its pre-commit hooks (which ask it
  to fix: the pipeline only checks), and pyupgrade, which has no check mode of its own.
- ``flake8_black``: flake8 and black pinned in requirements-dev.txt with their settings in
  setup.cfg and pyproject.toml, no ruff anywhere.
- ``tox_mypy``: a setup.py project whose tox.ini pins mypy and says what it checks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

SRC_LAYOUT = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "calc"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["six"]

        [dependency-groups]
        test = ["pytest>=8"]

        [tool.mypy]
        files = ["src"]
        ignore_missing_imports = true

        [tool.pytest.ini_options]
        testpaths = ["tests"]
        markers = ["slow: a slow test"]
        """,
    "src/calc/__init__.py": """
        import six


        def add(a: int, b: int) -> int:
            return a + b


        def text(value: int) -> str:
            return six.text_type(value)
        """,
    "tests/test_calc.py": """
        import pytest

        from calc import add, text


        def test_add() -> None:
            assert add(2, 3) == 5


        def test_text() -> None:
            assert text(3) == "3"


        @pytest.mark.slow
        def test_marked() -> None:
            assert add(0, 0) == 0


        @pytest.mark.skip(reason="not on this platform")
        def test_skipped() -> None:
            raise AssertionError


        @pytest.mark.xfail(reason="known bug", strict=True)
        def test_known_bug() -> None:
            assert add(1, 1) == 3
        """,
    "e2e/test_end_to_end.py": """
        from calc import add


        def test_sum_of_many() -> None:
            assert sum(add(i, i) for i in range(4)) == 12
        """,
    ".pre-commit-config.yaml": """
        repos:
          - repo: https://example.invalid/hooks
            rev: 3f6e1c1a8f0b3b2e6f4c2a9d8e7b6a5c4d3e2f1a
            hooks: [{id: check-yaml}]
        """,
    "pipeline.yaml": """
        version: 1
        stages:
          lint:
            tools: [ruff, ruff-format, mypy]
          e2e:
            run:
              - [python, -m, pytest, e2e, -p, no:cacheprovider, --junitxml=reports/e2e/junit.xml]
            needs: [test]
            junit: [reports/e2e/junit.xml]
            timeout: 600
        """,
}

FLAT_LAYOUT = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "greet"
        version = "1.0"
        requires-python = ">=3.11"
        dynamic = ["dependencies"]

        [project.optional-dependencies]
        test = ["pytest"]

        [tool.setuptools]
        packages = ["greet"]

        [tool.setuptools.dynamic]
        dependencies = {file = ["requirements.txt"]}
        """,
    "requirements.txt": "six\n",
    "greet/__init__.py": """
        import six


        def hello(name: str) -> str:
            return six.ensure_str(f"hello {name}")
        """,
    "tests/test_greet.py": """
        import pytest

        from greet import hello


        @pytest.mark.parametrize("name", ["a", "b", "c"])
        def test_hello(name: str) -> None:
            assert hello(name) == f"hello {name}"


        @pytest.mark.xfail(reason="not yet")
        def test_shout() -> None:
            assert hello("x").isupper()
        """,
}


POETRY_LAYOUT = {
    "pyproject.toml": """
        [build-system]
        requires = ["poetry-core>=1.9"]
        build-backend = "poetry.core.masonry.api"

        [tool.poetry]
        name = "tally"
        version = "0.3.0"
        description = "counts"
        authors = ["Someone <someone@example.invalid>"]
        packages = [{include = "tally", from = "src"}]

        [tool.poetry.dependencies]
        python = "^3.11"

        [tool.poetry.group.test.dependencies]
        pytest = "^8.0"
        pytest-mock = "^3.12"
        """,
    "src/tally/__init__.py": """
        def count(items: list[str]) -> dict[str, int]:
            found: dict[str, int] = {}
            for item in items:
                found[item] = found.get(item, 0) + 1
            return found
        """,
    "tests/test_tally.py": """
        import tally


        def test_count() -> None:
            assert tally.count(["a", "b", "a"]) == {"a": 2, "b": 1}


        def test_with_a_mock(mocker) -> None:  # the test group's pytest-mock
            mocker.patch.object(tally, "count", return_value={"x": 9})
            assert tally.count([]) == {"x": 9}
        """,
}


SCM_VERSIONED = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=64", "setuptools-scm>=8"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "stamped"
        dynamic = ["version"]
        requires-python = ">=3.11"

        [project.optional-dependencies]
        tests = ["pytest"]

        [tool.setuptools_scm]
        """,
    "src/stamped/__init__.py": """
        from importlib.metadata import version


        def stamp() -> str:
            return version("stamped")
        """,
    "tests/test_stamped.py": """
        from stamped import stamp


        def test_it_has_a_version() -> None:
            assert stamp()
        """,
}


PRE_COMMIT_PINS = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "pinned"
        version = "0.1.0"
        requires-python = ">=3.11"

        [dependency-groups]
        test = ["pytest"]

        [tool.ruff]
        line-length = 100
        """,
    ".pre-commit-config.yaml": """
        repos:
          - repo: https://github.com/astral-sh/ruff-pre-commit
            rev: v0.4.4
            hooks:
              - id: ruff
                args: [--fix]
              - id: ruff-format
          - repo: https://github.com/asottile/pyupgrade
            rev: v3.15.2
            hooks:
              - id: pyupgrade
                args: [--py311-plus]
        """,
    "src/pinned/__init__.py": """
        def double(value: int) -> int:
            return value * 2
        """,
    "tests/test_pinned.py": """
        from pinned import double


        def test_double() -> None:
            assert double(2) == 4
        """,
}

FLAKE8_BLACK = {
    "setup.cfg": """
        [metadata]
        name = shapes
        version = 1.0

        [options]
        packages = shapes

        [flake8]
        max-line-length = 100
        """,
    "setup.py": "from setuptools import setup\n\nsetup()\n",
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [tool.black]
        line-length = 100
        """,
    "requirements-dev.txt": "flake8==7.0.0\nblack==24.3.0\npytest\n",
    "shapes/__init__.py": """
        def area(width: float, height: float, *, unit: str = "m", precision: int = 2) -> str:
            return f"{round(width * height, precision)} {unit}2 (rectangle: {width} by {height})"
        """,
    "tests/test_shapes.py": """
        from shapes import area


        def test_area() -> None:
            assert area(2, 3) == "6 m2 (rectangle: 2 by 3)"
        """,
}

TOX_MYPY = {
    "setup.py": """
        from setuptools import find_packages, setup

        setup(name="tally2", version="1.0", packages=find_packages("src"), package_dir={"": "src"})
        """,
    "tox.ini": """
        [tox]
        envlist = py, type

        [testenv]
        deps = pytest
        commands = pytest {posargs}

        [testenv:type]
        deps = mypy==1.8.0
        commands = mypy --strict src
        """,
    "src/tally2/__init__.py": """
        def count(items: list[str]) -> dict[str, int]:
            found: dict[str, int] = {}
            for item in items:
                found[item] = found.get(item, 0) + 1
            return found
        """,
    "tests/test_tally2.py": """
        from tally2 import count


        def test_count():
            assert count(["a", "a"]) == {"a": 2}
        """,
}


# Tests that use what a developer's Python and machine have: the standard library's optional
# modules and programs tests often call. Run on both runners, every count must agree.
MACHINE_PROBE = {
    **FLAKE8_BLACK,
    "tests/test_machine.py": """
        import shutil
        import subprocess

        import pytest


        @pytest.mark.parametrize(
            "module", ["tkinter", "sqlite3", "lzma", "bz2", "ctypes", "readline", "zoneinfo"]
        )
        def test_optional_standard_modules(module: str) -> None:
            __import__(module)


        @pytest.mark.parametrize("program", ["less", "git"])
        def test_programs_tests_call(program: str) -> None:
            assert shutil.which(program), program


        def test_git_runs() -> None:
            done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True)
            assert done.stdout.startswith("git version")
        """,
}


def tool_output(project: Path, workdir: Path, requirement: str, argv: list[str]) -> str:
    """What a linter prints when run by hand the project's way, in a venv of its own."""
    venv = workdir / ("tool-" + requirement.replace("=", "-"))
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([UV, "pip", "install", "-q", "--python", python, requirement], check=True)
    done = subprocess.run(
        [str(venv / "bin" / argv[0]), *argv[1:]],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write a project's files (dedented) under ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text).lstrip(), encoding="utf-8")
    return root


UV = str(Path(sys.executable).parent / "uv")  # installed beside the SDK
PYTEST_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)")


def pytest_own_counts(project: Path, install: list[str], workdir: Path) -> dict[str, int]:
    """pytest's own summary line, run in a venv prepared by hand the usual way."""
    venv = workdir / "venv"
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [UV, "pip", "install", "-q", "--python", python, *install], cwd=project, check=True
    )
    done = subprocess.run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1]
    return {
        kind.rstrip("s") if kind == "errors" else kind: int(n)
        for n, kind in PYTEST_SUMMARY.findall(last)
    }
