"""The schema and loader of pipeline.yaml; a missing file means defaults for a Python project."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError
from pipelines.health.spec import HEALTH, HealthSettings
from pipelines.schema import (
    Boolean,
    Choice,
    ListOf,
    MapOf,
    Number,
    Optional,
    Scalar,
    Source,
    Struct,
    Text,
    parse_yaml,
)

CONFIG_FILE = "pipeline.yaml"
SEVERITIES = ("critical", "high", "medium", "low")
LINTERS = ("ruff", "ruff-format", "mypy")
SCANNERS = ("bandit", "detect-secrets", "pip-audit")
ENV_NAME = Text(r"[a-z][a-z0-9_-]*", "a lower-case name such as 'staging'")
ENV_VAR = Text(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")
PATHS = ListOf(Text(), unique=True)


@dataclass(frozen=True)
class GateThresholds:
    """What one environment demands of the reports before a deploy may proceed."""

    min_pass_rate: float
    max_flaky: int | None = None
    min_coverage: float | None = None
    coverage_metric: str = "line"
    max_findings: dict[str, int] = field(default_factory=lambda: {"critical": 0, "high": 0})
    allow_unchecked_scanners: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the plan and the gate decision."""
        return {
            "min_pass_rate": self.min_pass_rate,
            "max_flaky": self.max_flaky,
            "min_coverage": self.min_coverage,
            "coverage_metric": self.coverage_metric,
            "max_findings": dict(self.max_findings),
            "allow_unchecked_scanners": self.allow_unchecked_scanners,
        }


@dataclass(frozen=True)
class Environment:
    """A deployment environment: gate thresholds, health checks, variables for every stage."""

    name: str
    gate: GateThresholds
    env: dict[str, str] = field(default_factory=dict)
    health: HealthSettings = field(default_factory=HealthSettings)


@dataclass(frozen=True)
class MonitoringSettings:
    """Where the monitoring stack answers, and where its configuration lives."""

    prometheus: str | None = None
    alertmanager: str | None = None
    pushgateway: str | None = None
    grafana: str | None = None
    config_dir: str = "containers/monitoring"


@dataclass(frozen=True)
class MetricsSettings:
    """Where a run's metrics go: a node_exporter textfile and/or a Pushgateway."""

    textfile: str | None = None
    pushgateway: str | None = None
    job: str = "pipelines"


@dataclass(frozen=True)
class LintSettings:
    """Which linters run over which paths."""

    enabled: bool = True
    tools: tuple[str, ...] = ("ruff", "ruff-format")
    paths: tuple[str, ...] = (".",)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SecuritySettings:
    """Which scanners run, over what, and how long a scanner may take."""

    enabled: bool = True
    scanners: tuple[str, ...] = SCANNERS
    paths: tuple[str, ...] = (".",)
    exclude: tuple[str, ...] = ("tests", ".venv", "venv", "reports", "artifacts")
    requirements: str | None = None
    timeout: float = 300.0
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TestSettings:
    """How the test suite runs: the pytest command, reruns and coverage source."""

    __test__ = False  # not a pytest test class, whatever its name

    enabled: bool = True
    command: tuple[str, ...] = ("python", "-m", "pytest")
    reruns: int = 0
    coverage_source: tuple[str, ...] = (".",)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline.yaml (or the defaults when there is none)."""

    name: str
    source: str
    environments: dict[str, Environment]
    flags_file: str = "flags.yaml"
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    lint: LintSettings = field(default_factory=LintSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    test: TestSettings = field(default_factory=TestSettings)

    def environment(self, name: str) -> Environment:
        """Return the named environment or raise a ConfigError that lists the valid ones."""
        if name not in self.environments:
            valid = ", ".join(sorted(self.environments))
            raise ConfigError(
                f"{self.source}: unknown environment {name!r}",
                hint=f"use one of: {valid}, or declare it under 'environments'",
            )
        return self.environments[name]


DEFAULT_PASS_RATES = {"ci": 95.0, "staging": 95.0, "production": 98.0}

GATE = Struct(
    {
        "min_pass_rate": Number(0, 100),
        "max_flaky": Optional(Number(0, integer=True)),
        "min_coverage": Optional(Number(0, 100)),
        "coverage_metric": Choice("line", "branch"),
        "max_findings": Struct({s: Optional(Number(0, integer=True)) for s in SEVERITIES}),
        "allow_unchecked_scanners": Boolean(),
    }
)
ENV_VARS = MapOf(ENV_VAR, Scalar())
URL = Text(r"https?://\S+", "an http(s) URL")
SCHEMA = Struct(
    {
        "version": Number(1, 1, integer=True),
        "name": Text(),
        "flags": Text(),
        "environments": MapOf(ENV_NAME, Struct({"gate": GATE, "env": ENV_VARS, "health": HEALTH})),
        "monitoring": Struct(
            {
                "prometheus": URL,
                "alertmanager": URL,
                "pushgateway": URL,
                "grafana": URL,
                "config_dir": Text(),
            }
        ),
        "metrics": Struct(
            {"textfile": Text(), "pushgateway": URL, "job": Text(r"[a-zA-Z_][a-zA-Z0-9_]*")}
        ),
        "stages": Struct(
            {
                "lint": Struct(
                    {
                        "enabled": Boolean(),
                        "tools": ListOf(Choice(*LINTERS), unique=True),
                        "paths": PATHS,
                        "env": ENV_VARS,
                    }
                ),
                "security": Struct(
                    {
                        "enabled": Boolean(),
                        "scanners": ListOf(Choice(*SCANNERS), unique=True),
                        "paths": PATHS,
                        "exclude": PATHS,
                        "requirements": Text(),
                        "timeout": Number(1, 3600),
                        "env": ENV_VARS,
                    }
                ),
                "test": Struct(
                    {
                        "enabled": Boolean(),
                        "command": ListOf(Text(), min_items=1),
                        "reruns": Number(0, 10, integer=True),
                        "coverage_source": PATHS,
                        "env": ENV_VARS,
                    }
                ),
            }
        ),
    }
)


def load_config(project: Path, config_file: Path | None = None) -> PipelineConfig:
    """Load and validate the pipeline of ``project``; without a file, return the defaults."""
    path = config_file if config_file is not None else project / CONFIG_FILE
    if not path.exists():
        if config_file is not None:
            raise ConfigError(f"{path}: no such file", hint="pass an existing pipeline.yaml")
        return from_data({}, Source(str(path)), default_name=project.resolve().name)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    data, source = parse_yaml(text, str(path))
    return from_data(data, source, default_name=project.resolve().name)


def from_data(data: Any, source: Source, *, default_name: str = "project") -> PipelineConfig:
    """Validate parsed YAML and merge it over the defaults."""
    raw = SCHEMA.check(data, (), source)
    environments = {
        name: Environment(name, GateThresholds(min_pass_rate=rate))
        for name, rate in DEFAULT_PASS_RATES.items()
    }
    # Production is conservative by default: flaky tests and unscanned dependencies block it.
    environments["production"] = Environment(
        "production",
        GateThresholds(min_pass_rate=98.0, max_flaky=0, allow_unchecked_scanners=False),
    )
    for name, env_raw in raw.get("environments", {}).items():
        base = environments.get(name, Environment(name, GateThresholds(min_pass_rate=95.0)))
        gate_raw = dict(env_raw.get("gate", {}))
        if "max_findings" in gate_raw:
            gate_raw["max_findings"] = {
                k: v for k, v in gate_raw["max_findings"].items() if v is not None
            }
        gate = GateThresholds(**{**base.gate.to_dict(), **gate_raw})
        health = HealthSettings.from_raw(env_raw.get("health", {}))
        environments[name] = Environment(name, gate, dict(env_raw.get("env", {})), health)
    stages = raw.get("stages", {})
    return PipelineConfig(
        name=raw.get("name", default_name),
        source=source.file,
        flags_file=raw.get("flags", "flags.yaml"),
        monitoring=MonitoringSettings(**raw.get("monitoring", {})),
        metrics=MetricsSettings(**raw.get("metrics", {})),
        environments=environments,
        lint=LintSettings(**stages.get("lint", {})),
        security=SecuritySettings(**stages.get("security", {})),
        test=TestSettings(**stages.get("test", {})),
    )
