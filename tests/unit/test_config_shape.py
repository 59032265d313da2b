"""Every key pipeline.yaml declares reaches the loaded configuration, under its own name.

The walk follows the declared types (``PipelineFile`` and every Struct it holds, through
optional values and mappings), so a key added to any of them is checked without a change here.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pipelines.config.pipeline import (
    BUILTIN_STAGES,
    CustomStageFile,
    PipelineConfig,
    PipelineFile,
    from_data,
)
from pipelines.config.schema import decode
from pipelines.config.yaml_source import Source, read_yaml_file

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "pipeline.yaml", ROOT / "examples" / "service" / "pipeline.yaml"]
EACH = "*"  # a path segment standing for every key of a mapping


def struct_in(kind: Any) -> type[msgspec.Struct] | None:
    """The Struct a field holds, through Annotated, ``X | None`` and mapping values."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return struct_in(typing.get_args(kind)[0])
    if origin in (typing.Union, types.UnionType):
        found = [struct_in(member) for member in typing.get_args(kind)]
        return next((member for member in found if member is not None), None)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return kind
    return None


def mapping_value(kind: Any) -> Any:
    """The value type of a mapping field, else None."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return mapping_value(typing.get_args(kind)[0])
    if origin in (dict, Mapping):
        return typing.get_args(kind)[1]
    return None


def declared_keys(
    kind: type[msgspec.Struct], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every key path of a declared type, sections first, then their keys."""
    hints = typing.get_type_hints(kind, include_extras=True)
    for field in msgspec.structs.fields(kind):
        path = (*prefix, field.name)
        yield path
        entries = struct_in(mapping_value(hints[field.name]))
        if entries is not None:
            yield from declared_keys(entries, (*path, EACH))
        elif (inner := struct_in(hints[field.name])) is not None:
            yield from declared_keys(inner, path)


def values_at(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """The value at ``path`` (one per mapping entry at each ``EACH``), with its real path."""
    if not path:
        yield (), value
        return
    head, rest = path[0], path[1:]
    if value is None:
        return
    if head == EACH:
        for key, item in value.items():
            for where, found in values_at(item, rest):
                yield (str(key), *where), found
        return
    for where, found in values_at(getattr(value, head), rest):
        yield (head, *where), found


def is_section(value: Any) -> bool:
    """A Struct, or a mapping of Structs (the walk goes through them)."""
    if isinstance(value, Mapping):
        return any(isinstance(item, msgspec.Struct) for item in value.values())
    return isinstance(value, msgspec.Struct)


def loaded(path: Path) -> tuple[PipelineConfig, PipelineFile, dict[str, Any], Source]:
    data, source = read_yaml_file(path)
    stages = data.get("stages") or {}
    builtin = {k: v for k, v in stages.items() if k in BUILTIN_STAGES}
    custom = {k: v for k, v in stages.items() if k not in BUILTIN_STAGES}
    declared = decode({**data, "stages": builtin}, PipelineFile, source)
    return from_data(data, source), declared, custom, source


def test_the_walk_sees_sections_and_their_keys() -> None:
    keys = set(declared_keys(PipelineFile))
    assert ("stages", "test", "reruns") in keys
    assert ("environments", EACH, "deploy", "strategy") in keys
    assert ("environments", EACH, "health") in keys
    assert len(keys) > 100


@pytest.mark.parametrize("file", FILES, ids=lambda f: str(f.relative_to(ROOT)))
def test_every_declared_key_reaches_the_configuration(file: Path) -> None:
    config, declared, _, source = loaded(file)
    checked = 0
    for path in declared_keys(PipelineFile):
        if path == ("name",):  # None in the file: the config names the project directory
            assert config.name == (declared.name or file.parent.name)
            continue
        for where, value in values_at(declared, path):
            [reached] = [v for w, v in values_at(config, path) if w == where]
            if is_section(value):  # its keys are walked one by one
                continue
            if where[:1] == ("environments",) and where[2:3] == ("gate",):
                # An environment's gate is the keys written, over that environment's defaults
                # (and limits of findings over the default limits, severity by severity).
                if len(where) == 3 or where not in source.lines:
                    continue
                if where[3] == "max_findings":
                    assert reached.items() >= value.items(), ".".join(where)
                    continue
            assert reached == value, ".".join(where)
            checked += 1
    assert checked > 100


def test_every_key_of_a_custom_stage_reaches_it() -> None:
    config, _, custom, source = loaded(ROOT / "pipeline.yaml")
    assert custom, "the repository's pipeline.yaml declares no custom stage to check"
    for name, data in custom.items():
        written = decode(data, CustomStageFile, source, ("stages", name))
        [stage] = [stage for stage in config.custom if stage.name == name]
        for (key,) in declared_keys(CustomStageFile):
            assert getattr(stage, key) == getattr(written, key), f"stages.{name}.{key}"


def test_a_new_environment_keeps_every_key_it_declares() -> None:
    data = {"environments": {"qa": {"env": {"A": "1"}, "skip_stages": {"lint": "no linters"}}}}
    config = from_data(data, Source("pipeline.yaml"))
    qa = config.environment("qa")
    assert (qa.name, dict(qa.env), dict(qa.skip_stages)) == (
        "qa",
        {"A": "1"},
        {"lint": "no linters"},
    )
