"""flags.yaml: flags with a type, a default, and a value (or rollout) per environment."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError, UsageError
from pipelines.flags.rollout import Rollout
from pipelines.schema import (
    Choice,
    Duration,
    KeyPath,
    MapOf,
    Number,
    Source,
    Spec,
    Struct,
    Text,
    read_yaml_file,
)

FlagValue = bool | int | float | str
TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "string": (str,),
}
MAX_ROLLOUT = timedelta(days=3653)


@dataclass(frozen=True)
class EnvironmentSetting:
    """A flag's value in one environment, possibly rolled out progressively."""

    value: FlagValue
    rollout: Rollout | None = None


@dataclass(frozen=True)
class Flag:
    """One flag: its type, its default, and its setting per environment."""

    name: str
    type: str
    default: FlagValue
    description: str = ""
    environments: Mapping[str, EnvironmentSetting] = field(default_factory=dict)


@dataclass(frozen=True)
class FlagSet:
    """Every flag of a flags.yaml."""

    path: Path
    flags: Mapping[str, Flag]

    def flag(self, name: str) -> Flag:
        """The named flag, or a usage error that suggests the nearest name."""
        if name not in self.flags:
            close = difflib.get_close_matches(name, list(self.flags), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see `pipelines flags list`"
            raise UsageError(f"{self.path}: unknown flag {name!r}", hint=hint)
        return self.flags[name]


class _Value(Spec):
    """Any scalar flag value; its type is checked against the flag's afterwards."""

    description = "a boolean, number or string"

    def json_schema(self) -> dict[str, Any]:
        return {"type": ["boolean", "number", "string"]}

    def check(self, value: Any, path: KeyPath, source: Source) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise source.error(path, f"expected a finite number, got {value}")
        if isinstance(value, bool | int | float | str):
            return value
        raise self._wrong(value, path, source)


class _Moment(Spec):
    """A timestamp (ISO 8601); a time without zone is UTC."""

    description = "a timestamp such as 2026-11-01T00:00:00Z"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "description": self.description}

    def check(self, value: Any, path: KeyPath, source: Source) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError as exc:
                raise self._wrong(value, path, source) from exc
        if not isinstance(value, datetime):
            raise self._wrong(value, path, source)
        return value if value.tzinfo else value.replace(tzinfo=UTC)


ROLLOUT = Struct(
    {
        "start": _Moment(),
        "end": _Moment(),
        "duration": Duration(MAX_ROLLOUT, "a rollout may take (10 years)"),
        "from": Number(0, 100),
        "to": Number(0, 100),
    },
    required=("start",),
)


class _Setting(Spec):
    """Either a plain value or ``{value, rollout}``."""

    description = "a value, or a mapping with 'value' and 'rollout'"
    _struct = Struct({"value": _Value(), "rollout": ROLLOUT}, required=("value",))

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [_Value().json_schema(), self._struct.json_schema()]}

    def check(self, value: Any, path: KeyPath, source: Source) -> Any:
        if isinstance(value, Mapping):
            return self._struct.check(value, path, source)
        return {"value": _Value().check(value, path, source)}


FLAG_NAME = Text(r"[A-Z][A-Z0-9_]*", "an upper-case name such as FEATURE_X_ENABLED")
SCHEMA = Struct(
    {
        "version": Number(1, 1, integer=True),
        "flags": MapOf(
            FLAG_NAME,
            Struct(
                {
                    "description": Text(),
                    "type": Choice(*TYPES),
                    "default": _Value(),
                    "environments": MapOf(
                        Text(r"[a-z][a-z0-9_-]*", "an environment name"), _Setting()
                    ),
                }
            ),
        ),
    }
)


def load_flags(path: Path) -> FlagSet:
    """Load and validate flags.yaml; every error names the file, key path and line."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file", hint="create flags.yaml or pass --file")
    data, source = read_yaml_file(path)
    return build(path, data, source)


def build(path: Path, data: Any, source: Source) -> FlagSet:
    raw = SCHEMA.check(data, (), source)
    flags: dict[str, Flag] = {}
    for name, spec in raw.get("flags", {}).items():
        kind = spec.get("type", "bool")
        default = spec.get("default", False if kind == "bool" else None)
        where: KeyPath = ("flags", name)
        if default is None:
            raise source.error(where, f"{_article(kind)} {kind} flag needs a 'default'")
        _check_type(default, kind, (*where, "default"), source)
        settings = {}
        for env, setting in spec.get("environments", {}).items():
            env_path: KeyPath = (*where, "environments", env)
            _check_type(setting["value"], kind, env_path, source)
            rollout = setting.get("rollout")
            settings[env] = EnvironmentSetting(
                setting["value"],
                _rollout(rollout, (*env_path, "rollout"), source) if rollout is not None else None,
            )
        flags[name] = Flag(name, kind, default, spec.get("description", ""), settings)
    return FlagSet(path, flags)


def _check_type(value: Any, kind: str, path: KeyPath, source: Source) -> None:
    ok = isinstance(value, TYPES[kind]) and not (kind != "bool" and isinstance(value, bool))
    if not ok:
        raise source.error(path, f"expected {_article(kind)} {kind} value, got {value!r}")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _rollout(spec: Mapping[str, Any], path: KeyPath, source: Source) -> Rollout:
    start: datetime = spec["start"]
    if "end" in spec and "duration" in spec:
        raise source.error(path, "give 'end' or 'duration', not both")
    if "end" in spec:
        end: datetime = spec["end"]
    elif "duration" in spec:
        try:
            end = start + spec["duration"]
        except OverflowError as exc:
            raise source.error(path, "the rollout would end after the year 9999") from exc
    else:
        raise source.error(path, "a rollout needs 'end' or 'duration'", "for example duration: 7d")
    if end <= start:
        raise source.error(
            path, f"the rollout ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        )
    return Rollout(
        start,
        end,
        float(spec.get("from", 0)),
        float(spec.get("to", 100)),
    )


def parse_value(flag: Flag, text: str) -> FlagValue:
    """A command-line value as the flag's type, or a usage error."""
    try:
        if flag.type == "bool":
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise ValueError(text)
            return lowered == "true"
        if flag.type == "int":
            return int(text)
        if flag.type == "float":
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)  # NaN and infinity print as invalid JSON
            return number
    except ValueError as exc:
        raise UsageError(
            f"{flag.name} is {_article(flag.type)} {flag.type} flag; {text!r} is not "
            f"{_article(flag.type)} {flag.type}",
            hint="true or false" if flag.type == "bool" else "",
        ) from exc
    return text
