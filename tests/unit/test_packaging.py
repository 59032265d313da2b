"""What the package claims about itself holds: its metadata, its platforms, its page on an
index, and what its wheel carries to build the toolchain image."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from pipelines import toolchain

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_metadata_names_license_platforms_and_addresses() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    classifiers = set(PROJECT["classifiers"])
    assert {"Operating System :: POSIX :: Linux", "Operating System :: MacOS"} <= classifiers
    assert not any("Windows" in c or "OS Independent" in c for c in classifiers)
    assert "Typing :: Typed" in classifiers
    assert (ROOT / "pipelines/py.typed").is_file()
    minimum = re.fullmatch(r">=3\.(\d+)", PROJECT["requires-python"])
    assert minimum is not None
    versions = {c.rsplit(" ", 1)[1] for c in classifiers if re.search(r"Python :: 3\.\d+$", c)}
    assert min(int(v.split(".")[1]) for v in versions) == int(minimum[1])
    assert set(PROJECT["urls"]) >= {"Homepage", "Documentation", "Source", "Issues"}


def test_the_readme_links_work_on_an_index_page() -> None:
    home = PROJECT["urls"]["Source"].rstrip("/") + "/blob/main/"
    links = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    assert links
    for link in links:
        assert link.startswith(("https://", "http://")), f"relative link {link}"
        if link.startswith(home):
            assert (ROOT / link.removeprefix(home)).exists(), link


def test_the_core_install_has_no_numerical_library() -> None:
    core = {re.split(r"[<>=\[ ]", d)[0].lower() for d in PROJECT["dependencies"]}
    assert not core & {"scipy", "numpy"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pipelines.deploy.analysis, pipelines.cli.stage_cmd;"
            "print(sorted(m for m in ('scipy', 'numpy') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_a_platform_without_posix_locks_is_refused_on_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['fcntl'] = None; import pipelines"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "ImportError: portable-pipelines runs on Linux and macOS" in done.stderr


def test_the_wheel_ships_every_file_the_toolchain_image_is_built_from() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    shipped = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "SHIPPED" for t in node.targets)
    )
    extra_ca = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "containers/extra-ca").rglob("*") if p.is_file()
    )
    needed = {*toolchain.CONTEXT_FILES, toolchain.BASE_IMAGE_BUILDER, *extra_ca}
    assert set(shipped) == needed
    assert all((ROOT / name).is_file() for name in shipped)
