"""The package's import graph keeps its rules, and the check sees each kind of breach."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import import_graph
from tests.import_graph import cycles, floor, imports, modules, problems

REPO = Path(__file__).resolve().parents[2]


def test_the_package_keeps_every_rule() -> None:
    assert problems() == []
    assert import_graph.dagger_module_problems() == []


def test_every_module_has_a_floor() -> None:
    for name in modules():
        floor(name)


def test_the_check_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.import_graph"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    assert done.stdout.endswith(" modules, 0 problem(s)\n")


def write(root: Path, files: dict[str, str]) -> Path:
    package = root / "pipelines"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_each_kind_of_breach_is_named_with_its_line(tmp_path: Path) -> None:
    package = write(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "",
            "a.py": "import pipelines.b\n",
            "b.py": "def f():\n    from pipelines import a\n",
            "plan.py": "import subprocess\nfrom urllib.request import urlopen\n",
            "readers/__init__.py": "",
            "readers/junit.py": "from pipelines.errors import E\nfrom pipelines.plan import P\n",
            "config/__init__.py": "",
            "config/pipeline.py": "def load():\n    from pipelines.cli import main\n",
            "cli/__init__.py": "",
            "layout.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pipelines.cli import main\n"
            ),
        },
    )
    found = problems(imports(modules(package)))
    assert "pipelines.plan:1: pure code imports subprocess" in found
    assert "pipelines.plan:2: pure code imports urllib.request" in found
    assert (
        "pipelines.readers.junit:2: a reader imports pipelines.plan (readers stand alone)" in found
    )
    assert not any("junit:1" in line for line in found)  # errors: the one allowed
    assert (
        "pipelines.config.pipeline:2: imports pipelines.cli (nothing imports the command line)"
        in found
    )
    assert "pipelines.config.pipeline:2: imports pipelines.cli, a higher floor (11 > 3)" in found
    assert "import cycle: pipelines.a <-> pipelines.b" in found
    assert not any(line.startswith("pipelines.layout") for line in found)  # never runs


def test_a_lazy_import_listed_as_closing_a_cycle_must_be_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = write(
        tmp_path,
        {"a.py": "import pipelines.b\n", "b.py": "def f():\n    from pipelines import a\n"},
    )
    lazy = {("pipelines.b", "pipelines.a"): "b needs a only when f runs"}
    monkeypatch.setattr(import_graph, "LAZY_CYCLES", lazy)
    assert problems(imports(modules(package))) == []
    wrong = {("pipelines.a", "pipelines.b"): "said to be lazy"}
    monkeypatch.setattr(import_graph, "LAZY_CYCLES", wrong)
    assert problems(imports(modules(package)))[0].startswith("pipelines.a -> pipelines.b: listed")


def test_floors_follow_a_move_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(import_graph.FLOORS, "pipelines.readers", 1)
    assert floor("pipelines.readers.junit") == 1
    assert floor("pipelines.deploy.controller") == import_graph.FLOORS["pipelines.deploy"]


def test_cycles_are_the_strongly_connected_parts() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")]
    assert cycles(edges) == [["a", "b", "c"]]
