"""What a health check is (declared in pipeline.yaml) and what it found."""

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

from pipelines.config.schema import Invalid, Model, ScalarText, Text, Url, decode, matching
from pipelines.config.yaml_source import Source

KINDS = ("http", "tcp", "command", "promql")
Comparison = Literal["<", "<=", ">", ">=", "==", "!="]
HeaderName = Annotated[str, matching(r"[A-Za-z0-9-]+", "a header name")]
CheckName = Annotated[
    str, matching(r"[A-Za-z0-9_.-]+", "a name of letters, digits, '.', '_' or '-'")
]


class HttpProbe(Model, frozen=True):
    """A request whose answer must have the status, body, JSON field and latency given."""

    url: Url
    method: Literal["GET", "HEAD", "POST"] = "GET"
    status: Annotated[int, Meta(ge=100, le=599)] = 200
    body_contains: Text | None = None
    json_path: Text | None = None
    json_equals: ScalarText | None = None
    max_latency_ms: Annotated[float, Meta(ge=1)] | None = None
    # Values may be ${NAME}: read from the environment when the check runs, so a token
    # never has to be written into pipeline.yaml.
    headers: dict[HeaderName, ScalarText] = {}


class TcpProbe(Model, frozen=True):
    """A TCP connection that must open."""

    host: Text
    port: Annotated[int, Meta(ge=1, le=65535)]


class PromqlProbe(Model, frozen=True):
    """An instant query whose first value must satisfy ``op value``."""

    url: Url
    query: Text
    op: Comparison
    value: float


class HealthCheck(Model, frozen=True, kw_only=True):
    """A declared check: exactly one probe (http, tcp, command or promql), and how patiently
    it is tried."""

    schema_extra: ClassVar[dict[str, Any]] = {"oneOf": [{"required": [kind]} for kind in KINDS]}

    name: CheckName
    critical: bool = True
    timeout: Annotated[float, Meta(ge=0.001, le=3600)] = 5.0
    retries: Annotated[int, Meta(ge=0, le=20)] = 0
    backoff: Annotated[float, Meta(ge=0, le=600)] = 0.5
    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    command: Annotated[tuple[Text, ...], Meta(min_length=1)] | None = None
    expect_exit: Annotated[int, Meta(ge=0, le=255)] = 0
    promql: PromqlProbe | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise Invalid(f"a check has exactly one of {', '.join(KINDS)} (found: {found})")

    @property
    def kind(self) -> str:
        """Which probe this check runs."""
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    @classmethod
    def of(cls, name: str, kind: str, probe: Any, **settings: Any) -> "HealthCheck":
        """A check built from plain values (as pipeline.yaml would spell them)."""
        data = {"name": name, kind: probe, **settings}
        return decode(data, cls, Source(f"health check {name!r}"))


class HealthSettings(Model, frozen=True):
    """An environment's checks and how they run together."""

    checks: tuple[HealthCheck, ...] = ()
    concurrency: Annotated[int, Meta(ge=1, le=10_000)] = 100
    deadline: Annotated[float, Meta(ge=0.01, le=86_400)] = 60.0

    def __post_init__(self) -> None:
        super().__post_init__()
        first: dict[str, int] = {}
        for index, check in enumerate(self.checks):
            if check.name in first:
                raise Invalid(
                    f"{check.name!r} is already the name of checks[{first[check.name]}]",
                    key=("checks", index, "name"),
                    hint="give every check its own name",
                )
            first[check.name] = index


class CheckStatus(StrEnum):
    """How a check ended."""

    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"  # the overall deadline passed before the check finished


class CheckResult(msgspec.Struct, frozen=True):
    """One check's outcome, with the number of attempts it took (times in ms, to 0.1)."""

    name: str
    kind: str
    status: CheckStatus
    critical: bool
    attempts: int
    duration_ms: float
    detail: str = ""
    latency_ms: float | None = None


class HealthDetails(msgspec.Struct, frozen=True):
    """A health report as result.json and ``--json`` hold it."""

    env: str
    status: str
    critical_failures: int
    checks: tuple[CheckResult, ...] = ()


class HealthReport(msgspec.Struct, frozen=True):
    """Every check's outcome; unhealthy when a critical check did not pass."""

    env: str
    results: tuple[CheckResult, ...] = msgspec.field(default_factory=tuple)

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

    def details(self) -> "HealthDetails":
        """What result.json and ``--json`` hold."""
        return HealthDetails(self.env, self.status, len(self.critical_failures), self.results)
