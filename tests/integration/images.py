"""Building the example service's image on the real Docker engine (no registry needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_service_image(tmp_path: Path, tag: str) -> str:
    """``docker build`` containers/service.Dockerfile into ``tag``; the layers are cached."""
    context = tmp_path / "context"
    for part in ("containers", "examples/service/service"):
        shutil.copytree(
            ROOT / part,
            context / part,
            ignore=shutil.ignore_patterns("__pycache__", "reports", "artifacts"),
        )
    for name in ("constraints.txt", "examples/service/requirements.txt"):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, context / name)
    ca = os.environ.get("PIPELINES_CA_BUNDLE")
    if ca:
        shutil.copy2(ca, context / "containers/extra-ca/extra-ca.pem")
    base = os.environ.get("PIPELINES_BASE_IMAGE", "python:3.12-slim-bookworm")
    build = subprocess.run(
        [
            "docker",
            "build",
            "--file",
            str(context / "containers/service.Dockerfile"),
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--tag",
            tag,
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return tag
