"""Changing one value in flags.yaml while keeping the user's comments and layout."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML

from pipelines.config.yaml_source import parse_yaml
from pipelines.flags.model import FlagValue, build


def updated_text(text: str, path: Path, name: str, env: str, value: FlagValue) -> str:
    """flags.yaml with ``name`` set to ``value`` in ``env``, comments, order and flow or block
    style kept, after checking that the result is still a valid flags file."""
    document = YAML()  # round-trip mode
    document.preserve_quotes = True
    data = document.load(text)
    flag = data["flags"][name]
    if not isinstance(flag.get("environments"), dict):
        flag["environments"] = {}
    environments = flag["environments"]
    current = environments.get(env)
    if isinstance(current, dict):
        current["value"] = value
    else:
        environments[env] = value
    stream = io.StringIO()
    document.dump(data, stream)
    updated = stream.getvalue()
    parsed, source = parse_yaml(updated, str(path))
    build(path, parsed, source)  # never write a file that would not load
    return updated
