"""pipeline.yaml as its checked declared types, kept under the hash of its bytes.

Every stage process of a run reads the same pipeline.yaml: the first one parses and checks it,
the others decode the result (no YAML parse, no schema walk). An entry is written only when it
decodes back to exactly the config it holds, and it is keyed by the file's bytes, where it
was read from and the SDK's own config code, so an edit of either is a new entry. Entries
that cannot be read or written are skipped: the file is then loaded as without a cache.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

import pipelines
from pipelines.config.pipeline import CONFIG_FILE, PipelineConfig, load_config
from pipelines.config.schema import decode_json, encode_json
from pipelines.digest import sha256
from pipelines.layout import cache_root

# The code that decides what a file decodes to; its sizes and times are part of every key.
_CONFIG_CODE = Path(__file__).resolve().parent


def load_cached(
    project: Path, config_file: Path | None, environ: Mapping[str, str]
) -> PipelineConfig:
    """``load_config(project, config_file)``, from the cache when the same file was loaded."""
    path = config_file if config_file is not None else project / CONFIG_FILE
    try:
        raw = path.read_bytes() if path.is_file() else None
    except OSError:
        raw = None
    if raw is None:  # missing or unreadable: load_config says what is wrong
        return load_config(project, config_file)
    entry = cache_root(environ) / "configs" / f"{_key(project, path, raw)}.json"
    try:
        return decode_json(entry.read_bytes(), PipelineConfig)
    except (OSError, msgspec.DecodeError):
        pass
    config = load_config(project, config_file)
    _keep(entry, config)
    return config


def _key(project: Path, path: Path, raw: bytes) -> str:
    digest = sha256(raw)
    # The file's name as given appears in errors (source); the directory names the default.
    digest.update(f"\0{path}\0{project.resolve().name}\0{pipelines.__version__}".encode())
    for code in sorted(_CONFIG_CODE.glob("*.py")):
        stat = code.stat()
        digest.update(f"\0{code.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def _keep(entry: Path, config: PipelineConfig) -> None:
    encoded = encode_json(config)
    try:
        if decode_json(encoded, PipelineConfig) != config:
            return  # a value that does not survive the round trip is never cached
    except msgspec.DecodeError:
        return
    temporary = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(encoded)
        temporary.replace(entry)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
