"""Reading YAML config files safely, with the line of every key path.

Files are bounded in size and in what anchors and aliases may expand to; duplicate keys are
errors. ``Source`` remembers where each key path was written, so every error can name the file,
the line and the dotted key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from pipelines.errors import ConfigError

if TYPE_CHECKING:  # PyYAML loads when a file is parsed: a cached config needs no parser
    import yaml

KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    """Render a key path as ``stages.test.command[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


class Source(msgspec.Struct, frozen=True):
    """Where values come from: the file name and the line of every key path."""

    file: str
    lines: Mapping[KeyPath, int] = msgspec.field(default_factory=dict)

    def error(self, path: KeyPath, message: str, hint: str = "") -> ConfigError:
        """Build a ConfigError that points at ``path`` (or its nearest known parent)."""
        line = None
        for depth in range(len(path), -1, -1):
            if path[:depth] in self.lines:
                line = self.lines[path[:depth]]
                break
        where = f"{self.file}:{line}" if line is not None else self.file
        return ConfigError(f"{where}: {dotted(path)}: {message}", hint=hint)


# Bounds for every YAML file the SDK reads: a config is small, and anchors and aliases must
# not expand a few hundred bytes into billions of values (a pull request could send one).
MAX_YAML_BYTES = 1_000_000
MAX_YAML_VALUES = 100_000


def read_yaml_file(path: Path) -> tuple[Any, Source]:
    """Read and parse a YAML config file; every failure is a ConfigError naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(
                f"{path}: {size} bytes, more than a config file may have ({MAX_YAML_BYTES})",
                hint="is this the right file?",
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a directory, not a file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    return parse_yaml(text, str(path))


def parse_yaml(text: str, file: str) -> tuple[Any, Source]:
    """Parse YAML safely and record the line of every key path; duplicate keys, recursive
    aliases and documents that expand beyond MAX_YAML_VALUES are errors."""
    import yaml  # noqa: PLC0415 - a config read from the cache needs no parser

    # libyaml's parser where PyYAML was built with it (several times faster); the same safe
    # constructor, marks and errors either way.
    loader: yaml.SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, file)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "maximum nesting depth" in problem:  # libyaml's own limit
            raise ConfigError(f"{where}: nested too deeply", hint="flatten the document") from exc
        raise ConfigError(f"{where}: not valid YAML: {problem}", hint="fix the syntax") from exc
    except RecursionError as exc:
        raise ConfigError(f"{file}: nested too deeply", hint="flatten the document") from exc
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines, file)
    return data, Source(file, lines)


def _check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse a document whose aliases loop or multiply it past MAX_YAML_VALUES, before
    anything walks it (iteratively: depth cannot overflow the stack here)."""
    import yaml  # noqa: PLC0415 - loaded by parse_yaml already

    seen = 0
    stack: list[tuple[yaml.Node, frozenset[int]]] = [(root, frozenset())]
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_YAML_VALUES:
            raise ConfigError(
                f"{file}:{node.start_mark.line + 1}: the document expands to more than "
                f"{MAX_YAML_VALUES} values (anchors and aliases that multiply)",
                hint="write the values out, or use fewer nested aliases",
            )
        if id(node) in path:
            raise ConfigError(
                f"{file}:{node.start_mark.line + 1}: an alias refers to a value that contains it",
                hint="a value cannot include itself",
            )
        inner = path | {id(node)}
        if isinstance(node, yaml.MappingNode):
            stack.extend((part, inner) for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, inner) for item in node.value)


def _record_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], file: str) -> None:
    import yaml  # noqa: PLC0415 - loaded by parse_yaml already

    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise ConfigError(
                    f"{file}:{line}: {dotted((*path, key))}: duplicate key",
                    hint="keep one of the two entries",
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _record_lines(value_node, (*path, key), lines, file)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, file)
