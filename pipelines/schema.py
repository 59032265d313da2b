"""A small declarative schema for YAML config: strict keys, typed values, teaching errors.

Every error names the file, the dotted key path and the line, and for an unknown key suggests
the nearest valid one. Validation returns plain Python values; `config` turns them into
dataclasses.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import ConfigError, UsageError

KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    """Render a key path as ``stages.test.command[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


@dataclass(frozen=True)
class Source:
    """Where values come from: the file name and the line of every key path."""

    file: str
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def error(self, path: KeyPath, message: str, hint: str = "") -> ConfigError:
        """Build a ConfigError that points at ``path`` (or its nearest known parent)."""
        line = None
        for depth in range(len(path), -1, -1):
            if path[:depth] in self.lines:
                line = self.lines[path[:depth]]
                break
        where = f"{self.file}:{line}" if line is not None else self.file
        return ConfigError(f"{where}: {dotted(path)}: {message}", hint=hint)


class Spec:
    """A validator for one value."""

    description = "a value"

    def check(self, value: Any, path: KeyPath, source: Source) -> Any:
        """Return the validated value or raise ConfigError."""
        raise NotImplementedError

    def _wrong(self, value: Any, path: KeyPath, source: Source) -> ConfigError:
        return source.error(path, f"expected {self.description}, got {_show(value)}")

    def json_schema(self) -> dict[str, Any]:
        """This spec as JSON Schema (draft 2020-12), for editors and other tools."""
        return {"description": self.description}

    def json_default(self, value: Any) -> Any:
        """The code's default for this value, spelled as a user would write it."""
        return as_json(value)


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r} ({type(value).__name__})"


class Text(Spec):
    """A non-empty string, optionally matching a pattern."""

    def __init__(self, pattern: str | None = None, description: str = "a non-empty string") -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.description = description

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if self.pattern:
            schema["pattern"] = f"^(?:{self.pattern.pattern})$"
        return {**schema, "description": self.description}

    def check(self, value: Any, path: KeyPath, source: Source) -> str:
        if not isinstance(value, str) or not value:
            raise self._wrong(value, path, source)
        if self.pattern and not self.pattern.fullmatch(value):
            raise self._wrong(value, path, source)
        return value


DURATION = re.compile(r"(?P<amount>\d+(?:\.\d+)?)(?P<unit>ms|[smhdw])")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, where: str) -> float:
    """Seconds of a duration given on the command line (``15m``), or a UsageError."""
    match = DURATION.fullmatch(text.strip())
    if match is None or float(match["amount"]) <= 0:
        raise UsageError(
            f"{where}: expected a duration such as 90s, 15m or 48h, got {text!r}",
            hint="a number followed by ms, s, m, h, d or w",
        )
    return float(match["amount"]) * UNITS[match["unit"]]


class Duration(Spec):
    """A duration such as 7d, 12h, 30m, 90s or 250ms, up to ``maximum``."""

    description = "a duration such as 7d, 12h, 30m, 90s or 250ms"

    def __init__(self, maximum: timedelta, too_long: str) -> None:
        self.maximum, self.too_long = maximum, too_long

    def json_schema(self) -> dict[str, Any]:
        # Without Python's named groups: editors use ECMA-262 regular expressions.
        return {"type": "string", "pattern": r"^\d+(?:\.\d+)?(?:ms|[smhdw])$"}

    def json_default(self, value: Any) -> Any:
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
        for unit in ("d", "h", "m"):  # the largest unit that says it exactly
            if seconds >= UNITS[unit] and seconds % UNITS[unit] == 0:
                return f"{seconds / UNITS[unit]:g}{unit}"
        return f"{seconds:g}s"

    def check(self, value: Any, path: KeyPath, source: Source) -> timedelta:
        match = DURATION.fullmatch(value) if isinstance(value, str) else None
        if match is None or float(match["amount"]) <= 0:
            raise self._wrong(value, path, source)
        seconds = float(match["amount"]) * UNITS[match["unit"]]
        if seconds > self.maximum.total_seconds():
            raise source.error(path, f"{value} is longer than {self.too_long}")
        return timedelta(seconds=seconds)


class Scalar(Spec):
    """A string, number or boolean, kept as text (environment variable values)."""

    description = "a string, number or boolean"

    def json_schema(self) -> dict[str, Any]:
        return {"type": ["string", "number", "boolean"], "description": self.description}

    def check(self, value: Any, path: KeyPath, source: Source) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise self._wrong(value, path, source)


class Boolean(Spec):
    """true or false."""

    description = "true or false"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def check(self, value: Any, path: KeyPath, source: Source) -> bool:
        if not isinstance(value, bool):
            raise self._wrong(value, path, source)
        return value


class Number(Spec):
    """A number within bounds; ``integer`` forbids fractions."""

    def __init__(self, low: float, high: float | None = None, *, integer: bool = False) -> None:
        self.low, self.high, self.integer = low, high, integer
        kind = "an integer" if integer else "a number"
        upper = f" to {high:g}" if high is not None else " or more"
        self.description = f"{kind} from {low:g}{upper}"

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer" if self.integer else "number"}
        schema["minimum"] = self.low
        if self.high is not None:
            schema["maximum"] = self.high
        return schema

    def check(self, value: Any, path: KeyPath, source: Source) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(value, path, source)
        if not math.isfinite(value):
            # NaN compares false with every bound: it would pass, then close a gate forever.
            raise source.error(path, f"expected a finite number, got {value}")
        if self.integer and not isinstance(value, int):
            raise self._wrong(value, path, source)
        if value < self.low or (self.high is not None and value > self.high):
            raise self._wrong(value, path, source)
        return value


class Optional(Spec):
    """Either null or what ``inner`` accepts."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner
        self.description = f"{inner.description}, or null"

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [self.inner.json_schema(), {"type": "null"}]}

    def check(self, value: Any, path: KeyPath, source: Source) -> Any:
        return None if value is None else self.inner.check(value, path, source)


class Choice(Spec):
    """One of a fixed set of strings."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.description = "one of " + ", ".join(repr(c) for c in choices)

    def json_schema(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}

    def check(self, value: Any, path: KeyPath, source: Source) -> str:
        if value not in self.choices:
            hint = _suggest(value, self.choices)
            raise source.error(path, f"expected {self.description}, got {_show(value)}", hint)
        return str(value)


class ListOf(Spec):
    """A list whose items all match ``item``."""

    def __init__(self, item: Spec, *, min_items: int = 0, unique: bool = False) -> None:
        self.item, self.min_items, self.unique = item, min_items, unique
        self.description = f"a list of {item.description}"
        if min_items:
            self.description = f"a list of at least {min_items} of {item.description}"

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": self.item.json_schema()}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.unique:
            schema["uniqueItems"] = True
        return schema

    def json_default(self, value: Any) -> Any:
        if value is None:
            return None
        return [self.item.json_default(item) for item in value]

    def check(self, value: Any, path: KeyPath, source: Source) -> tuple[Any, ...]:
        if isinstance(value, str):
            # A command is never split from a string: that is how quoting bugs start.
            raise source.error(
                path,
                f"expected {self.description}, got the string {value!r}",
                hint="write a list, for example [python, -m, pytest]",
            )
        if not isinstance(value, list) or len(value) < self.min_items:
            raise self._wrong(value, path, source)
        items = tuple(self.item.check(v, (*path, i), source) for i, v in enumerate(value))
        if self.unique and len(set(items)) != len(items):
            raise source.error(path, "lists the same entry twice")
        return items


class MapOf(Spec):
    """A mapping with free keys (matching ``key``) and values matching ``value``."""

    def __init__(self, key: Text, value: Spec) -> None:
        self.key, self.value = key, value
        self.description = f"a mapping of {key.description} to {value.description}"

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": ["object", "null"],
            "propertyNames": self.key.json_schema(),
            "additionalProperties": self.value.json_schema(),
        }

    def json_default(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return as_json(value)
        return {str(k): self.value.json_default(v) for k, v in value.items()}

    def check(self, value: Any, path: KeyPath, source: Source) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, item in _named_items(self, value, path, source):
            self.key.check(key, (*path, key), source)
            result[key] = self.value.check(item, (*path, key), source)
        return result


def _named_items(spec: Spec, value: Any, path: KeyPath, source: Source) -> list[tuple[str, Any]]:
    """The entries of a mapping whose keys are names: null is empty, keys must be strings."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise spec._wrong(value, path, source)
    for key in value:
        if not isinstance(key, str):
            raise source.error((*path, str(key)), f"keys must be strings, got {_show(key)}")
    return list(value.items())


class Struct(Spec):
    """A mapping with a fixed set of keys; unknown keys are errors with a suggestion."""

    description = "a mapping"

    def __init__(
        self,
        fields: Mapping[str, Spec],
        required: Sequence[str] = (),
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.fields, self.required = fields, tuple(required)
        # What the code uses when a key is absent (read from its dataclass: one home).
        self.defaults = {k: v for k, v in (defaults or {}).items() if k in fields}

    def json_schema(self) -> dict[str, Any]:
        properties = {name: spec.json_schema() for name, spec in self.fields.items()}
        for name, value in self.defaults.items():
            default = self.fields[name].json_default(value)
            properties[name] = {**properties[name], "default": default}
        schema: dict[str, Any] = {
            "type": ["object", "null"] if not self.required else "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = list(self.required)
        return schema

    def json_default(self, value: Any) -> Any:
        if not is_dataclass(value) or isinstance(value, type):
            return as_json(value)
        return {
            name: self.fields[name].json_default(getattr(value, name))
            for name in self.fields
            if hasattr(value, name)
        }

    def check(self, value: Any, path: KeyPath, source: Source) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self._wrong(value, path, source)
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key not in self.fields:
                hint = _suggest(key, self.fields)
                raise source.error((*path, str(key)), "unknown key", hint)
            result[key] = self.fields[key].check(item, (*path, key), source)
        for key in self.required:
            if key not in result:
                raise source.error(path, f"missing required key {key!r}")
        return result


def dataclass_defaults(cls: Any) -> dict[str, Any]:
    """The default of every field of a dataclass that has one."""
    found: dict[str, Any] = {}
    for item in fields(cls):
        if item.default is not MISSING:
            found[item.name] = item.default
        elif item.default_factory is not MISSING:
            found[item.name] = item.default_factory()
    return found


def as_json(value: Any) -> Any:
    """A default as JSON: tuples are lists, enums their values, dataclasses mappings."""
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: as_json(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, tuple | list):
        return [as_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): as_json(v) for k, v in value.items()}
    return value


class Named(Spec):
    """A mapping of names: known names have their own spec, any other name gets ``other``.

    A name that is not known and does not fit ``other`` is reported with the nearest known
    name, so a typo of a built-in (``lnt:``) still gets a "did you mean".
    """

    description = "a mapping"

    def __init__(self, known: Mapping[str, Spec], key: Text, other: Spec, other_is: str) -> None:
        self.known, self.key, self.other, self.other_is = known, key, other, other_is

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": ["object", "null"],
            "properties": {name: spec.json_schema() for name, spec in self.known.items()},
            "propertyNames": self.key.json_schema(),
            "additionalProperties": self.other.json_schema(),
        }

    def check(self, value: Any, path: KeyPath, source: Source) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, item in _named_items(self, value, path, source):
            where = (*path, key)
            if key in self.known:
                result[key] = self.known[key].check(item, where, source)
                continue
            self.key.check(key, where, source)
            try:
                result[key] = self.other.check(item, where, source)
            except ConfigError as exc:
                close = difflib.get_close_matches(key, sorted(self.known), n=1, cutoff=0.6)
                if close:
                    raise source.error(
                        where, f"unknown {self.other_is}", f"did you mean {close[0]!r}?"
                    ) from exc
                raise
        return result


def _suggest(value: Any, valid: Sequence[str] | Mapping[str, Any]) -> str:
    names = sorted(valid)
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    listing = "valid: " + ", ".join(names)
    return f"did you mean {close[0]!r}? ({listing})" if close else listing


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
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, file)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
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
