"""The wheel carries what the toolchain image is built from (see pipelines/toolchain.py).

The Dockerfile, its requirement pins and the base-image builder live in containers/ and
constraints.txt, where the repository and the Dagger module use them; a build copies them
into the wheel's ``pipelines/_sdk/`` so `pipelines run --runner docker` works from an install.
Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# Relative to the repository root, and kept at the same place under pipelines/_sdk/.
# tests/unit/test_packaging.py keeps this equal to what pipelines.toolchain builds from.
SHIPPED = (
    "containers/toolchain.Dockerfile",
    "containers/toolchain-requirements.txt",
    "containers/build-base-image.sh",
    "containers/extra-ca/README.md",
    "constraints.txt",
    "pyproject.toml",
    "README.md",
)


class BuildWithToolchainSources(build_py):
    """build_py, plus the toolchain's build files copied into the built package."""

    def run(self) -> None:
        super().run()
        # An editable install builds the image from the checkout itself.
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "pipelines" / "_sdk"
        for name in SHIPPED:
            source = HERE / name
            if not source.is_file():
                # A wheel without them would fail only later, at the first Docker run.
                raise FileNotFoundError(f"{source}: missing; the wheel ships it as package data")
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildWithToolchainSources})
