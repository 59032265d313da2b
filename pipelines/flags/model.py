"""flags.yaml: flags with a type, a default, and a value (or rollout) per environment."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from msgspec import Meta

from pipelines.config.schema import (
    Duration,
    Invalid,
    LowerName,
    Model,
    Moment,
    Text,
    decode,
    matching,
)
from pipelines.config.yaml_source import KeyPath, Source, read_yaml_file
from pipelines.errors import ConfigError, UsageError, did_you_mean
from pipelines.flags.rollout import Rollout

FlagValue = bool | int | float | str
TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "string": (str,),
}
FlagType = Literal["bool", "int", "float", "string"]
Value = Annotated[FlagValue, Meta(description="a boolean, number or string")]
Percent = Annotated[float, Meta(ge=0, le=100)]
FlagName = Annotated[
    str, matching(r"[A-Z][A-Z0-9_]*", "an upper-case name such as FEATURE_X_ENABLED")
]


class RolloutTime(Duration):
    """How long a progressive rollout takes."""

    maximum: ClassVar[float] = timedelta(days=3653).total_seconds()
    too_long: ClassVar[str] = "a rollout may take (10 years)"


class RolloutFile(Model, frozen=True, kw_only=True, rename={"start_percent": "from"}):
    """A progressive rollout: from ``from`` percent at ``start`` to ``to`` percent at ``end``
    (or after ``duration``)."""

    start: Moment
    end: Moment | None = None
    duration: RolloutTime | None = None
    start_percent: Percent = 0.0
    to: Percent = 100.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.finish()  # its rules, checked where the file is read

    def finish(self) -> datetime:
        """When the rollout reaches ``to``; a rule broken is an ``Invalid``."""
        if self.end is not None and self.duration is not None:
            raise Invalid("give 'end' or 'duration', not both")
        if self.end is not None:
            end = self.end
        elif self.duration is not None:
            try:
                end = self.start + timedelta(seconds=self.duration)
            except OverflowError as exc:
                raise Invalid("the rollout would end after the year 9999") from exc
        else:
            raise Invalid("a rollout needs 'end' or 'duration'", hint="for example duration: 7d")
        if end <= self.start:
            raise Invalid(
                f"the rollout ends ({end.isoformat()}) before it starts ({self.start.isoformat()})"
            )
        return end

    def build(self) -> Rollout:
        """The rollout, ready to evaluate."""
        return Rollout(self.start, self.finish(), self.start_percent, self.to)


class SettingFile(Model, frozen=True, kw_only=True):
    """A flag's value in one environment, possibly rolled out progressively."""

    value: Value
    rollout: RolloutFile | None = None


Setting = Annotated[
    Value | SettingFile, Meta(description="a value, or a mapping with 'value' and 'rollout'")
]


class FlagFile(Model, frozen=True):
    """One flag of flags.yaml."""

    description: Text | None = None
    type: FlagType = "bool"
    # Needed unless the flag is a bool (false).
    default: Value | None = None
    environments: dict[LowerName, Setting] = {}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.default is None and self.type != "bool":
            raise Invalid(f"{_article(self.type)} {self.type} flag needs a 'default'")
        _check_type(self.value_or_default(), self.type, ("default",))
        for env, given in self.environments.items():
            value = given.value if isinstance(given, SettingFile) else given
            _check_type(value, self.type, ("environments", env))

    def value_or_default(self) -> FlagValue:
        """The default (false for a bool flag that gives none)."""
        return False if self.default is None else self.default


class FlagsFile(Model, frozen=True):
    """flags.yaml."""

    version: Literal[1] = 1
    flags: dict[FlagName, FlagFile] = {}


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
            hint = did_you_mean(name, self.flags).strip() or "see `pipelines flags list`"
            raise UsageError(f"{self.path}: unknown flag {name!r}", hint=hint)
        return self.flags[name]


def load_flags(path: Path) -> FlagSet:
    """Load and validate flags.yaml; every error names the file, key path and line."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file", hint="create flags.yaml or pass --file")
    data, source = read_yaml_file(path)
    return build(path, data, source)


def build(path: Path, data: Any, source: Source) -> FlagSet:
    """Check parsed flags.yaml and build its flags."""
    declared = decode(data, FlagsFile, source)
    flags: dict[str, Flag] = {}
    for name, spec in declared.flags.items():
        settings = {}
        for env, given in spec.environments.items():
            setting = given if isinstance(given, SettingFile) else SettingFile(value=given)
            rollout = setting.rollout.build() if setting.rollout is not None else None
            settings[env] = EnvironmentSetting(setting.value, rollout)
        flags[name] = Flag(
            name, spec.type, spec.value_or_default(), spec.description or "", settings
        )
    return FlagSet(path, flags)


def _check_type(value: Any, kind: str, key: KeyPath) -> None:
    ok = isinstance(value, TYPES[kind]) and not (kind != "bool" and isinstance(value, bool))
    if not ok:
        raise Invalid(f"expected {_article(kind)} {kind} value, got {value!r}", key=key)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


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
