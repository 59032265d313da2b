"""The documented Python API: every public name resolves, and the docs' example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pipelines

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def test_every_public_name_resolves_and_is_documented() -> None:
    documented = DOC.read_text()
    for name in pipelines.__all__:
        assert getattr(pipelines, name) is not None
        if name != "__version__":
            assert f"`{name}" in documented, name


def test_importing_the_package_loads_nothing_it_does_not_need() -> None:
    probe = (
        "import sys, pipelines; print(sorted(m for m in sys.modules if m.startswith('pipelines')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "['pipelines']"


def test_the_docs_example_runs_and_prints_what_the_docs_say(tmp_path: Path) -> None:
    [example] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    shown = re.findall(r"```text\n(.*?)```", DOC.read_text(), re.S)[0]
    done = subprocess.run(
        [sys.executable, "-c", example],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    # Durations and run ids vary: compare the lines with them blanked out.
    def blank(text: str) -> list[str]:
        text = re.sub(r"\d+\.\d+s", "Ns", text)
        return re.sub(r"artifacts/[^/]+/", "artifacts/RUN/", text).splitlines()

    assert blank(done.stdout) == blank(shown)
