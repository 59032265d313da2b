"""The toolchain image: built from this SDK's own files, tagged by a hash of its contents.

An unchanged build context gives the same tag, so an existing image is reused instead of
rebuilt. The context is assembled in a temporary directory so an extra CA bundle can be added
without touching the source tree.

The build files come from a checkout (containers/, constraints.txt, ...), or from an installed
wheel, which carries the same files under ``pipelines/_sdk/`` (see setup.py); the ``pipelines``
package itself is copied from wherever it is imported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pipelines.errors import UsageError

DOCKERFILE = "containers/toolchain.Dockerfile"
IMAGE_NAME = "portable-pipelines-toolchain"
# What the image is built from, relative to the SDK root (the Dockerfile's COPY lines).
CONTEXT_FILES = (
    "containers/toolchain.Dockerfile",
    "containers/toolchain-requirements.txt",
    "constraints.txt",
    "pyproject.toml",
    "README.md",
)
CONTEXT_DIRS = ("pipelines", "containers/extra-ca")
DEFAULT_BASE_IMAGE = "python:3.12-slim-bookworm"
# Where a wheel keeps the build files, inside the package (not part of the image's copy of it).
SHIPPED_DIR = "_sdk"
BASE_IMAGE_BUILDER = "containers/build-base-image.sh"
PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_root() -> Path | None:
    shipped = resources.files("pipelines") / SHIPPED_DIR
    # Only a package on the file system can be a build context (not one inside a zip).
    return shipped if isinstance(shipped, Path) and shipped.is_dir() else None


def sdk_root() -> Path:
    """Where containers/ and the pins are: PIPELINES_SDK_DIR, the wheel's, or the checkout."""
    override = os.environ.get("PIPELINES_SDK_DIR")
    root = Path(override) if override else (_shipped_root() or PACKAGE_DIR.parent)
    if not (root / DOCKERFILE).is_file():
        raise UsageError(
            f"{root / DOCKERFILE}: not found; the toolchain image is built from the SDK's sources",
            hint="reinstall portable-pipelines from its wheel or sdist, or set PIPELINES_SDK_DIR "
            "to a checkout of it",
        )
    return root


def _package_source(root: Path) -> Path:
    """The ``pipelines`` package to copy: the checkout's own, else the imported one."""
    return root / "pipelines" if (root / "pipelines").is_dir() else PACKAGE_DIR


@dataclass(frozen=True)
class ToolchainSpec:
    """Everything that decides the image: the SDK root, the base image and an extra CA."""

    root: Path
    base_image: str = DEFAULT_BASE_IMAGE
    ca_bundle: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ToolchainSpec:
        """Read PIPELINES_BASE_IMAGE and PIPELINES_CA_BUNDLE."""
        ca = environ.get("PIPELINES_CA_BUNDLE")
        if ca and not Path(ca).is_file():
            raise UsageError(
                f"PIPELINES_CA_BUNDLE={ca}: no such file",
                hint="point it at a PEM file of CA certificates",
            )
        return cls(
            sdk_root(),
            environ.get("PIPELINES_BASE_IMAGE", DEFAULT_BASE_IMAGE),
            Path(ca) if ca else None,
        )


@contextmanager
def build_context(spec: ToolchainSpec) -> Iterator[Path]:
    """A temporary copy of exactly what the Dockerfile needs, plus the extra CA if any."""
    with tempfile.TemporaryDirectory(prefix="pipelines-toolchain-") as tmp:
        context = Path(tmp)
        for name in CONTEXT_FILES:
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(spec.root / name, context / name)
        for name in CONTEXT_DIRS:
            shutil.copytree(
                _package_source(spec.root) if name == "pipelines" else spec.root / name,
                context / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", SHIPPED_DIR),
            )
        if spec.ca_bundle is not None:
            shutil.copy2(spec.ca_bundle, context / "containers/extra-ca/extra-ca.pem")
        yield context


def context_digest(context: Path, base_image: str) -> str:
    """A hash of every file's path and bytes, and of the base image's name."""
    digest = hashlib.sha256(base_image.encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def image_tag(context: Path, base_image: str) -> str:
    """``portable-pipelines-toolchain:<first 16 hex digits of the digest>``."""
    return f"{IMAGE_NAME}:{context_digest(context, base_image)[:16]}"
