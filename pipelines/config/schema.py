"""Config types declared once, as msgspec Structs, and read with errors that teach.

Every configuration type (pipeline.yaml and flags.yaml) is a ``Model``: typed fields with
their defaults, checked by msgspec, which also emits the JSON Schema. This module adds the
thin layer users see: an error names the file, the line and the dotted key path, says what
was expected in words, and an unknown key gets a "did you mean".

Values msgspec has no type for are small classes here: ``Duration`` (``7d``, ``250ms``),
``ScalarText`` (an environment value written as a string, number or boolean) and ``Moment``
(a timestamp; without a zone it is UTC).
"""

from __future__ import annotations

import enum
import functools
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, TypeVar

import msgspec

from pipelines.config.yaml_source import KeyPath, Source
from pipelines.errors import ConfigError, UsageError, did_you_mean

T = TypeVar("T")


class Model(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A declared configuration type: typed fields, each default given once, here."""

    # Lists whose entries must differ (JSON Schema's uniqueItems; msgspec has no such check).
    unique_lists: ClassVar[tuple[str, ...]] = ()
    # Added to this type's JSON Schema (for rules a field alone cannot state).
    schema_extra: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        for name in self.unique_lists:
            items = getattr(self, name)
            if items is not None and len(set(items)) != len(items):
                raise Invalid("lists the same entry twice", key=(name,))


class Invalid(ValueError):
    """A rule about several fields was broken; raised in ``__post_init__``.

    ``key`` is the path below the checked value that the message is about."""

    def __init__(self, message: str, *, key: KeyPath = (), hint: str = "") -> None:
        super().__init__(message)
        self.message, self.key, self.hint = message, key, hint


def matching(pattern: str, description: str) -> msgspec.Meta:
    """A whole-string pattern, and the words an error uses for it."""
    return msgspec.Meta(pattern=f"^(?:{pattern})$", description=description)


Text = Annotated[str, msgspec.Meta(min_length=1)]
Url = Annotated[str, matching(r"https?://\S+", "an http(s) URL")]
EnvVarName = Annotated[str, matching(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")]
# Names of environments, stages, targets and faults: lower-case, as in file names and URLs.
LOWER_NAME = r"[a-z][a-z0-9_-]*"
LowerName = Annotated[str, matching(LOWER_NAME, "a lower-case name such as 'staging'")]


# Durations ---------------------------------------------------------------------------------

DURATION = re.compile(r"(?P<amount>\d+(?:\.\d+)?)(?P<unit>ms|[smhdw])")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_WORDS = "a duration such as 7d, 12h, 30m, 90s or 250ms"


# The longest duration a command takes: windows and ages are dates, and a date a century
# back or ahead is still one (a million weeks is not).
LONGEST_DURATION = 36500 * 86400.0


def parse_duration(text: str, where: str) -> float:
    """Seconds of a duration given on the command line (``15m``), or a UsageError."""
    seconds = _seconds(text.strip())
    if seconds is None:
        raise UsageError(
            f"{where}: expected a duration such as 90s, 15m or 48h, got {text!r}",
            hint="a number followed by ms, s, m, h, d or w",
        )
    if seconds > LONGEST_DURATION:
        raise UsageError(
            f"{where}: {text!r} is longer than the 100 years a window may span",
            hint="give a duration up to 36500d",
        )
    return seconds


def _seconds(text: str) -> float | None:
    match = DURATION.fullmatch(text)
    if match is None or float(match["amount"]) <= 0:
        return None
    return float(match["amount"]) * UNITS[match["unit"]]


class Duration(float):
    """Seconds, written as a duration (``7d``, ``12h``, ``30m``, ``90s``, ``250ms``).

    Subclasses set the longest duration that makes sense where they are used."""

    maximum: ClassVar[float] = math.inf
    too_long: ClassVar[str] = ""

    def __str__(self) -> str:
        seconds = float(self)
        for unit in ("d", "h", "m"):  # the largest unit that says it exactly
            if seconds >= UNITS[unit] and seconds % UNITS[unit] == 0:
                return f"{seconds / UNITS[unit]:g}{unit}"
        return f"{seconds:g}s"

    @classmethod
    def parse(cls, value: object) -> Duration:
        """The duration ``value`` says, or ValueError in words a user understands."""
        seconds = _seconds(value) if isinstance(value, str) else None
        if seconds is None:
            raise ValueError(f"expected {DURATION_WORDS}, got {_show(value)}")
        if seconds > cls.maximum:
            raise ValueError(f"{value} is longer than {cls.too_long}")
        return cls(seconds)


def default_duration(kind: type[Duration], seconds: float) -> Any:
    """A duration field's default (made by a factory: msgspec cannot encode our own types in
    the defaults it writes into a JSON Schema; ``json_schema`` writes them instead)."""
    return msgspec.field(default_factory=lambda: kind(seconds))


class ScalarText(str):
    """A string, number or boolean, kept as text (an environment variable's value)."""

    @classmethod
    def parse(cls, value: object) -> ScalarText:
        if isinstance(value, bool):
            return cls("true" if value else "false")
        if isinstance(value, str | int | float):
            return cls(value)
        raise ValueError(f"expected a string, number or boolean, got {_show(value)}")


class Moment(datetime):
    """A timestamp (ISO 8601); a time without a zone is UTC, a date alone is its midnight."""

    @classmethod
    def parse(cls, value: object) -> Moment:
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        except ValueError:
            moment = None
        if not isinstance(moment, datetime):
            raise ValueError(f"expected {WORDS[Moment]}, got {_show(value)}")
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return cls.fromtimestamp(moment.timestamp(), moment.tzinfo)


WORDS: dict[type, str] = {
    Duration: DURATION_WORDS,
    ScalarText: "a string, number or boolean",
    Moment: "a timestamp such as 2026-11-01T00:00:00Z",
}
JSON_SCHEMAS: dict[type, dict[str, Any]] = {
    # Without Python's named groups: editors use ECMA-262 regular expressions.
    Duration: {"type": "string", "pattern": r"^\d+(?:\.\d+)?(?:ms|[smhdw])$"},
    ScalarText: {"type": ["string", "number", "boolean"]},
    Moment: {"type": "string"},
}


def _own_type(kind: type) -> type | None:
    return next((own for own in WORDS if isinstance(kind, type) and issubclass(kind, own)), None)


def _dec_hook(kind: type, value: Any) -> Any:
    if isinstance(kind, type) and issubclass(kind, Duration | ScalarText | Moment):
        return kind.parse(value)
    raise NotImplementedError(kind)


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Duration | ScalarText):
        return str(value)  # a duration as written: 30s, 7d
    if isinstance(value, datetime):
        return value.isoformat()
    raise NotImplementedError(type(value))


def encode_json(value: Any) -> bytes:
    """A declared value as JSON bytes, read back by ``decode_json``."""
    return msgspec.json.encode(value, enc_hook=_enc_hook)


def decode_json(data: bytes, kind: type[T]) -> T:
    """JSON bytes that ``encode_json`` wrote, as the declared type (a DecodeError if not)."""
    return msgspec.json.decode(data, type=kind, dec_hook=_dec_hook)


def to_builtins(value: Any) -> Any:
    """A declared value as JSON data (lists, not tuples), spelled as a user would write it."""
    return msgspec.json.decode(msgspec.json.encode(value, enc_hook=_enc_hook))


# Decoding ----------------------------------------------------------------------------------


def decode(data: Any, kind: type[T], source: Source, path: KeyPath = ()) -> T:
    """Check ``data`` (parsed YAML) against a declared type and build it.

    A section left empty (``stages:`` with nothing under it) counts as an empty mapping."""
    data = _fill_empty_sections(data, kind)
    _refuse_non_finite(data, path, source)
    try:
        return msgspec.convert(data, kind, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise explain(exc, data, kind, source, path) from None


def _refuse_non_finite(data: Any, path: KeyPath, source: Source) -> None:
    # NaN compares false with every bound: it would pass, then close a gate forever.
    if isinstance(data, float) and not math.isfinite(data):
        raise source.error(path, f"expected a finite number, got {data}")
    if isinstance(data, Mapping):
        for key, value in data.items():
            _refuse_non_finite(value, (*path, str(key)), source)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _refuse_non_finite(value, (*path, index), source)


def _fill_empty_sections(data: Any, kind: Any) -> Any:
    if data is None and _is_mapping_type(kind):
        return {}
    if isinstance(data, Mapping):
        return {key: _fill_empty_sections(value, _child(kind, key)) for key, value in data.items()}
    if isinstance(data, list):
        return [
            _fill_empty_sections(value, _child(kind, index)) for index, value in enumerate(data)
        ]
    return data


def _is_mapping_type(kind: Any) -> bool:
    base, _ = _unwrap(kind)
    if _union_members(base) != [base]:
        return False  # null is a value of its own there
    return _is_struct(base) or typing.get_origin(base) in (dict, Mapping) or base is dict


# Explaining what msgspec found -------------------------------------------------------------

_AT = re.compile(r"^(?P<message>.*?)(?: - at `(?P<key>key` in `)?(?P<path>\$[^`]*)`)?$", re.S)
_SEGMENT = re.compile(r"\.(?P<name>[^.\[]+)|\[(?P<index>\d+)\]|\[(?P<any>\.\.\.)\]")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>.+)`")
_MISSING = re.compile(r"Object missing required field `(?P<name>.+)`")
_ANY = object()


def explain(
    error: msgspec.ValidationError, data: Any, kind: Any, source: Source, path: KeyPath
) -> ConfigError:
    """The ConfigError for what msgspec found: file, line, dotted key path, and words."""
    message, at_key, segments = _located(str(error))
    at, value, kind = _walk(data, kind, path, segments)
    if at_key:
        key_kind = _dict_types(kind)[0]
        bad = next((k for k in value if not _fits(k, key_kind)), None)
        return source.error((*at, str(bad)), f"expected {describe(key_kind)}, got {_show(bad)}")
    cause = error.__cause__
    if isinstance(cause, Invalid):
        return source.error((*at, *cause.key), cause.message, cause.hint)
    if isinstance(cause, ValueError | TypeError):
        return source.error(at, str(cause))
    if unknown := _UNKNOWN.match(message):
        names = list(_field_types(_struct_of(kind)))
        return source.error((*at, unknown["name"]), "unknown key", suggest(unknown["name"], names))
    if missing := _MISSING.match(message):
        return source.error(at, f"missing required key {missing['name']!r}")
    return _wrong_value(value, kind, source, at)


def _located(text: str) -> tuple[str, bool, list[Any]]:
    """msgspec's message, whether it is about a mapping's key, and its path as segments."""
    found = _AT.match(text)
    if found is None:  # the pattern matches any text
        return text, False, []
    segments: list[Any] = []
    for part in _SEGMENT.finditer(found["path"] or ""):
        if part["name"]:
            segments.append(part["name"])
        else:
            segments.append(_ANY if part["any"] else int(part["index"]))
    return found["message"], bool(found["key"]), segments


def _wrong_value(value: Any, kind: Any, source: Source, at: KeyPath) -> ConfigError:
    expected = describe(kind)
    if isinstance(value, str) and _is_sequence_type(kind):
        # A command is never split from a string: that is how quoting bugs start.
        return source.error(
            at,
            f"expected {expected}, got the string {value!r}",
            hint="write a list, for example [python, -m, pytest]",
        )
    choices = _choices(kind)
    hint = suggest(value, [str(choice) for choice in choices]) if choices else ""
    return source.error(at, f"expected {expected}, got {_show(value)}", hint)


def _walk(data: Any, kind: Any, path: KeyPath, segments: list[Any]) -> tuple[KeyPath, Any, Any]:
    """Follow msgspec's path through the data and the types. msgspec writes ``[...]`` for a
    mapping's key; the key is the first entry whose value does not fit."""
    at = path
    for segment in segments:
        if segment is _ANY:
            if not isinstance(data, Mapping):
                break
            value_kind = _dict_types(kind)[1]
            key = next((k for k, v in data.items() if not _fits(v, value_kind)), None)
            if key is None:
                break
            at, data, kind = (*at, str(key)), data[key], value_kind
        elif isinstance(segment, int):
            data = data[segment] if isinstance(data, list) and segment < len(data) else None
            at, kind = (*at, segment), _child(kind, segment)
        else:
            data = data.get(segment) if isinstance(data, Mapping) else None
            at, kind = (*at, segment), _child(kind, segment)
    return at, data, kind


def _fits(value: Any, kind: Any) -> bool:
    try:
        msgspec.convert(_fill_empty_sections(value, kind), kind, dec_hook=_dec_hook)
    except (msgspec.ValidationError, ValueError, TypeError):
        return False
    return True


# Types: what is inside what, and how to say it ---------------------------------------------


def _unwrap(kind: Any) -> tuple[Any, list[msgspec.Meta]]:
    metas: list[msgspec.Meta] = []
    while typing.get_origin(kind) is typing.Annotated:
        kind, *extras = typing.get_args(kind)
        metas.extend(extra for extra in extras if isinstance(extra, msgspec.Meta))
    return kind, metas


def _union_members(kind: Any) -> list[Any]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return list(typing.get_args(kind))
    return [kind]


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _struct_of(kind: Any) -> Any:
    base, _ = _unwrap(kind)
    return next((m for m in _union_members(base) if _is_struct(_unwrap(m)[0])), None)


def _dict_types(kind: Any) -> tuple[Any, Any]:
    base, _ = _unwrap(kind)
    for option in _union_members(base):
        member = _unwrap(option)[0]
        if typing.get_origin(member) in (dict, Mapping):
            key, value = typing.get_args(member)
            return key, value
    return str, Any


def _is_sequence_type(kind: Any) -> bool:
    base, _ = _unwrap(kind)
    return any(
        typing.get_origin(_unwrap(m)[0]) in (tuple, list, Sequence) for m in _union_members(base)
    )


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """Each field's declared type by its key in the file (msgspec evaluates the annotations
    on every call of ``fields``: once per class is enough)."""
    return {field.encode_name: field.type for field in msgspec.structs.fields(cls)}


def _child(kind: Any, key: Any) -> Any:
    """The declared type of ``kind``'s entry ``key`` (Any when there is none)."""
    base, _ = _unwrap(kind)
    for option in _union_members(base):
        member = _unwrap(option)[0]
        origin = typing.get_origin(member)
        if isinstance(key, str) and _is_struct(member):
            if key in _field_types(member):
                return _field_types(member)[key]
        elif isinstance(key, str) and origin in (dict, Mapping):
            return typing.get_args(member)[1]
        elif isinstance(key, int) and origin in (tuple, list, Sequence):
            args = typing.get_args(member)
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                return args[key] if key < len(args) else Any
            return args[0] if args else Any
    return Any


def _choices(kind: Any) -> list[Any]:
    base, _ = _unwrap(kind)
    if typing.get_origin(base) is typing.Literal:
        return list(typing.get_args(base))
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return [member.value for member in base]
    return []


def describe(kind: Any) -> str:
    """What a value of a declared type is, in words: 'an integer from 0 to 10'."""
    base, metas = _unwrap(kind)
    given = next((item.description for item in metas if item.description), None)
    if given:
        return given
    members = _union_members(base)
    if len(members) > 1:
        others = [m for m in members if m is not types.NoneType]
        words = " or ".join(describe(m) for m in others)
        return f"{words}, or null" if len(others) < len(members) else words
    if choices := _choices(base):
        return "one of " + ", ".join(repr(choice) for choice in choices)
    own = _own_type(base)
    if own is not None:
        return WORDS[own]
    return _describe_plain(base, metas)


def _describe_plain(base: Any, metas: list[msgspec.Meta]) -> str:
    low = next((m.ge for m in metas if m.ge is not None), None)
    high = next((m.le for m in metas if m.le is not None), None)
    least = next((m.min_length for m in metas if m.min_length), 0)
    if typing.get_origin(base) in (tuple, list, Sequence):
        item = describe(_child(base, 0))
        return f"a list of at least {least} of {item}" if least else f"a list of {item}"
    if base in (int, float):
        words = "an integer" if base is int else "a number"
        if low is not None:
            words += f" from {low:g}" + (f" to {high:g}" if high is not None else " or more")
        return words
    if base is str:
        return "a non-empty string" if least else "a string"
    return "true or false" if base is bool else "a mapping"


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r} ({type(value).__name__})"


def suggest(value: Any, valid: Sequence[str]) -> str:
    """A hint naming the nearest valid name, and every valid one."""
    names = sorted(valid)
    listing = "valid: " + ", ".join(names)
    guess = did_you_mean(str(value), names)
    return f"{guess}({listing})" if guess else listing


# JSON Schema -------------------------------------------------------------------------------


def json_schema(root: type, *others: type) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``root``, with ``others`` among its definitions.

    msgspec writes the types; this adds what it cannot know: every default as a user would
    write it (defaults built by a factory included), unique lists and each type's extras."""
    (schema, *_), definitions = msgspec.json.schema_components(
        (root, *others), schema_hook=_schema_hook, ref_template="#/$defs/{name}"
    )
    for cls in _structs((root, *others)):
        component = definitions.get(cls.__name__)
        if component is None:
            continue
        properties = component.get("properties", {})
        for field in msgspec.structs.fields(cls):
            if field.default is not msgspec.NODEFAULT:
                default = field.default
            elif field.default_factory is not msgspec.NODEFAULT:
                default = field.default_factory()
            else:
                continue
            properties[field.encode_name]["default"] = to_builtins(default)
        for name in cls.unique_lists:
            _mark_unique(properties[name])
        component.update(cls.schema_extra)
        if not component.get("required"):
            component.pop("required", None)
    return {**schema, "$defs": definitions}


def _mark_unique(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "array":
            option["uniqueItems"] = True


def _schema_hook(kind: type) -> dict[str, Any]:
    own = _own_type(kind)
    if own is None:
        raise NotImplementedError(kind)
    return {**JSON_SCHEMAS[own], "description": WORDS[own]}


def _structs(roots: Sequence[Any]) -> list[type[Model]]:
    """Every declared type reachable from ``roots``."""
    found: dict[type, None] = {}
    stack = list(roots)
    while stack:
        base, _ = _unwrap(stack.pop())
        if _is_struct(base):
            if base in found:
                continue
            found[base] = None
            stack.extend(field.type for field in msgspec.structs.fields(base))
        else:
            stack.extend(typing.get_args(base))
    return [cls for cls in found if issubclass(cls, Model)]
