"""Whatever a user writes in place of any value or key of a real config file, the answer is a
ConfigError (exit 2) or a valid config: never an internal error."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.config.pipeline import EnvironmentFile, PipelineFile, from_data
from pipelines.config.schema import to_builtins
from pipelines.config.yaml_source import KeyPath, Source
from pipelines.errors import ConfigError
from pipelines.flags.model import build

ROOT = Path(__file__).resolve().parents[2]
# Values of every kind YAML can give, including the awkward ones.
VALUES: list[Any] = [None, 0, -1, 1.5, True, "x", "", "7d", [], ["a", "a"], [[]], {}, {1: 2}]
Load = Callable[[Any], object]


def _load_pipeline(data: Any) -> object:
    return from_data(data, Source("pipeline.yaml"))


def _load_flags(data: Any) -> object:
    return build(Path("flags.yaml"), data, Source("flags.yaml"))


def _nodes(data: Any, prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    yield prefix, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _nodes(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _nodes(value, (*prefix, index))


def _replaced(data: Any, path: KeyPath, value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(data)
    node = copied
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copied


def _holds(load: Load, data: Any) -> None:
    with contextlib.suppress(ConfigError):
        load(data)


def _every_key() -> dict[str, Any]:
    """A pipeline.yaml that writes every declared key (each at its default), with a custom
    stage and a health check of each kind: what the example files leave out is mutated too."""
    document: dict[str, Any] = to_builtins(PipelineFile())
    environment: dict[str, Any] = to_builtins(EnvironmentFile())
    environment["health"]["checks"] = [
        {"name": "web", "http": {"url": "http://127.0.0.1:1/", "headers": {"A": "b"}}},
        {"name": "port", "tcp": {"host": "127.0.0.1", "port": 1}},
        {"name": "cmd", "command": ["true"]},
        {
            "name": "q",
            "promql": {"url": "http://127.0.0.1:1", "query": "up", "op": "==", "value": 1},
        },
    ]
    document["environments"] = {"ci": environment}
    document["service"]["faults"] = {"errors": {"RATE": "0.3"}}
    document["stages"]["e2e"] = {"run": [["pytest"]], "junit": ["reports/e2e/junit.xml"]}
    return document


def test_any_declared_key_replaced_is_a_config_error_or_valid() -> None:
    original = _every_key()
    _load_pipeline(original)  # valid as it is
    for path, node in _nodes(original):
        for value in VALUES:
            _holds(_load_pipeline, _replaced(original, path, value))
        if isinstance(node, dict):
            for key in (1, None, "zzz"):
                _holds(_load_pipeline, _replaced(original, path, {**node, key: 1}))


@pytest.mark.parametrize(
    ("file", "load"),
    [
        ("examples/service/pipeline.yaml", _load_pipeline),
        ("pipeline.yaml", _load_pipeline),
        ("examples/service/flags.yaml", _load_flags),
    ],
)
def test_any_value_or_key_replaced_is_a_config_error_or_valid(file: str, load: Load) -> None:
    original = yaml.safe_load((ROOT / file).read_text())
    for path, node in _nodes(original):
        for value in VALUES:
            _holds(load, _replaced(original, path, value))
        if isinstance(node, dict):
            for key in (1, None, "zzz", "Not A Name"):
                _holds(load, _replaced(original, path, {**node, key: 1}))
