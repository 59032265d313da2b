"""What a health check is (declared in pipeline.yaml) and what it found."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pipelines.schema import (
    Boolean,
    Choice,
    KeyPath,
    ListOf,
    MapOf,
    Number,
    Scalar,
    Source,
    Spec,
    Struct,
    Text,
    dataclass_defaults,
)

KINDS = ("http", "tcp", "command", "promql")
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")

HTTP = Struct(
    {
        "url": Text(r"https?://\S+", "an http(s) URL"),
        "method": Choice("GET", "HEAD", "POST"),
        "status": Number(100, 599, integer=True),
        "body_contains": Text(),
        "json_path": Text(),
        "json_equals": Scalar(),
        "max_latency_ms": Number(1),
        # Values may be ${NAME}: read from the environment when the check runs, so a token
        # never has to be written into pipeline.yaml.
        "headers": MapOf(Text(r"[A-Za-z0-9-]+", "a header name"), Scalar()),
    },
    required=("url",),
)
TCP = Struct({"host": Text(), "port": Number(1, 65535, integer=True)}, required=("host", "port"))
PROMQL = Struct(
    {
        "url": Text(r"https?://\S+", "the Prometheus base URL"),
        "query": Text(),
        "op": Choice(*COMPARISONS),
        "value": Number(float("-inf")),
    },
    required=("url", "query", "op", "value"),
)


@dataclass(frozen=True)
class HealthCheck:
    """A declared check: what to probe and how patiently."""

    name: str
    kind: str
    target: Mapping[str, Any]
    critical: bool = True
    timeout: float = 5.0
    retries: int = 0
    backoff: float = 0.5
    expect_exit: int = 0


@dataclass(frozen=True)
class HealthSettings:
    """An environment's checks and how they run together."""

    checks: tuple[HealthCheck, ...] = ()
    concurrency: int = 100
    deadline: float = 60.0

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> HealthSettings:
        """Build from validated YAML (absent keys take the defaults above)."""
        return cls(**raw)


# The settings of a check beside its probe kind.
_SETTINGS = ("critical", "timeout", "retries", "backoff", "expect_exit")


class _Check(Spec):
    """One check: common settings plus exactly one probe kind."""

    description = "a health check"
    _struct = Struct(
        {
            "name": Text(r"[A-Za-z0-9_.-]+", "a name of letters, digits, '.', '_' or '-'"),
            "critical": Boolean(),
            "timeout": Number(0.001, 3600),
            "retries": Number(0, 20, integer=True),
            "backoff": Number(0, 600),
            "http": HTTP,
            "tcp": TCP,
            "command": ListOf(Text(), min_items=1),
            "expect_exit": Number(0, 255, integer=True),
            "promql": PROMQL,
        },
        required=("name",),
        defaults=dataclass_defaults(HealthCheck),
    )

    def json_schema(self) -> dict[str, Any]:
        # Exactly one probe kind per check.
        return {
            **self._struct.json_schema(),
            "oneOf": [{"required": [kind]} for kind in KINDS],
        }

    def check(self, value: Any, path: KeyPath, source: Source) -> HealthCheck:
        raw = self._struct.check(value, path, source)
        kinds = [kind for kind in KINDS if kind in raw]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise source.error(
                path, f"a check has exactly one of {', '.join(KINDS)} (found: {found})"
            )
        kind = kinds[0]
        target = raw[kind]
        # Absent settings take the dataclass's defaults: they live there alone.
        settings = {key: raw[key] for key in _SETTINGS if key in raw}
        return HealthCheck(
            name=raw["name"],
            kind=kind,
            target={"argv": list(target)} if kind == "command" else dict(target),
            **settings,
        )


class _Checks(ListOf):
    """The checks of an environment; each name once (results are reported by name)."""

    def __init__(self) -> None:
        super().__init__(_Check())

    def check(self, value: Any, path: KeyPath, source: Source) -> tuple[Any, ...]:
        checks = super().check(value, path, source)
        first: dict[str, int] = {}
        for index, check in enumerate(checks):
            if check.name in first:
                raise source.error(
                    (*path, index, "name"),
                    f"{check.name!r} is already the name of checks[{first[check.name]}]",
                    hint="give every check its own name",
                )
            first[check.name] = index
        return checks


HEALTH = Struct(
    {
        "concurrency": Number(1, 10_000, integer=True),
        "deadline": Number(0.01, 86_400),
        "checks": _Checks(),
    },
    defaults=dataclass_defaults(HealthSettings),
)


class CheckStatus(StrEnum):
    """How a check ended."""

    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"  # the overall deadline passed before the check finished


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome, with the number of attempts it took."""

    name: str
    kind: str
    status: CheckStatus
    critical: bool
    attempts: int
    duration_ms: float
    detail: str = ""
    latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Serialise for result.json."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status.value,
            "critical": self.critical,
            "attempts": self.attempts,
            "duration_ms": round(self.duration_ms, 1),
            "detail": self.detail,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
        }


@dataclass(frozen=True)
class HealthReport:
    """Every check's outcome; unhealthy when a critical check did not pass."""

    env: str
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def critical_failures(self) -> list[CheckResult]:
        """Critical checks that did not pass."""
        return [r for r in self.results if r.critical and r.status is not CheckStatus.PASSED]

    @property
    def status(self) -> str:
        """healthy, degraded (only non-critical failures) or unhealthy."""
        if self.critical_failures:
            return "unhealthy"
        if any(r.status is not CheckStatus.PASSED for r in self.results):
            return "degraded"
        return "healthy"

    def to_dict(self) -> dict[str, Any]:
        """Serialise for result.json and --json."""
        return {
            "env": self.env,
            "status": self.status,
            "critical_failures": len(self.critical_failures),
            "checks": [r.to_dict() for r in self.results],
        }
