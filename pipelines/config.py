"""The schema and loader of pipeline.yaml; a missing file means defaults for a Python project."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePosixPath
from typing import Any

from pipelines.deploy.settings import (
    DEPLOY,
    SERVICE,
    DeploySettings,
    ServiceSettings,
    deploy_settings,
    service_settings,
)
from pipelines.errors import ConfigError
from pipelines.health.spec import HEALTH, HealthSettings
from pipelines.retention import RETENTION, RetentionSettings, retention_settings
from pipelines.schema import (
    Boolean,
    Choice,
    ListOf,
    MapOf,
    Named,
    Number,
    Optional,
    Scalar,
    Source,
    Struct,
    Text,
    dataclass_defaults,
    read_yaml_file,
)
from pipelines.severity import LIMITED

CONFIG_FILE = "pipeline.yaml"
SEVERITIES = tuple(severity.value for severity in LIMITED)
LINTERS = ("ruff", "ruff-format", "mypy")
SCANNERS = ("bandit", "detect-secrets", "pip-audit")
BUILTIN_STAGES = ("install", "lint", "security", "test", "health", "gate")
RUN_IF = ("success", "always")
DEFAULT_STAGE_TIMEOUT = 3600.0
STAGE_NAME = Text(r"[a-z][a-z0-9_-]*", "a lower-case stage name such as 'build'")
ENV_NAME = Text(r"[a-z][a-z0-9_-]*", "a lower-case name such as 'staging'")
ENV_VAR = Text(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")
PATHS = ListOf(Text(), unique=True)


@dataclass(frozen=True)
class GateThresholds:
    """What one environment demands of the reports before a deploy may proceed."""

    min_pass_rate: float = 95.0
    max_flaky: int | None = None
    min_coverage: float | None = None
    coverage_metric: str = "line"
    # A severity without a limit (absent or null) is reported, never judged.
    max_findings: dict[str, int | None] = field(default_factory=lambda: {"critical": 0, "high": 0})
    allow_unchecked_scanners: bool = True
    # Percent a benchmark may be significantly slower than its baseline (`pipelines perf
    # compare`); None: slowdowns are reported, never judged.
    max_slowdown: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the plan and the gate decision."""
        return {
            "min_pass_rate": self.min_pass_rate,
            "max_flaky": self.max_flaky,
            "min_coverage": self.min_coverage,
            "coverage_metric": self.coverage_metric,
            "max_findings": dict(self.max_findings),
            "allow_unchecked_scanners": self.allow_unchecked_scanners,
            "max_slowdown": self.max_slowdown,
        }


@dataclass(frozen=True)
class Environment:
    """A deployment environment: gate thresholds, health checks, variables for every stage."""

    name: str
    gate: GateThresholds
    env: dict[str, str] = field(default_factory=dict)
    health: HealthSettings = field(default_factory=HealthSettings)
    # Stages this environment cannot run, each with the reason the plan shows.
    skip_stages: dict[str, str] = field(default_factory=dict)
    deploy: DeploySettings = field(default_factory=DeploySettings)


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
class ProjectEnvSettings:
    """The project's own virtualenv: what it is built from (defaults: what the project declares)."""

    enabled: bool = True
    groups: tuple[str, ...] | None = None
    extras: tuple[str, ...] | None = None
    requirements: tuple[str, ...] | None = None
    install_project: bool | None = None
    install: tuple[tuple[str, ...], ...] = ()
    python: str | None = None


@dataclass(frozen=True)
class StageSettings:
    """What every stage, built-in or custom, can be given: order, environment, time limit."""

    enabled: bool = True
    needs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_STAGE_TIMEOUT


@dataclass(frozen=True)
class CustomStage:
    """A stage the project declares: its commands and the reports it feeds to the gate."""

    name: str
    run: tuple[tuple[str, ...], ...]
    settings: StageSettings = field(default_factory=StageSettings)
    run_if: str = "success"
    python: str = "project"  # "project": the project's virtualenv; "tool": the SDK's own
    junit: tuple[str, ...] = ()
    coverage: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class LintSettings:
    """Which linters run over which paths (None: what the project's own config says)."""

    # None: ruff check, plus ruff format --check when the project formats its code (it has ruff
    # or black settings, or a formatter in its pre-commit config).
    tools: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SecuritySettings:
    """Which scanners run, over what, and how long a scanner may take."""

    scanners: tuple[str, ...] = SCANNERS
    paths: tuple[str, ...] = (".",)
    exclude: tuple[str, ...] = ("tests", ".venv", "venv", "reports", "artifacts")
    requirements: str | None = None
    timeout: float = 300.0


@dataclass(frozen=True)
class TestSettings:
    """How the test suite runs: the pytest command, reruns and coverage source."""

    __test__ = False  # not a pytest test class, whatever its name

    command: tuple[str, ...] = ("python", "-m", "pytest")
    reruns: int = 0
    coverage_source: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline.yaml (or the defaults when there is none)."""

    name: str
    source: str
    environments: dict[str, Environment]
    flags_file: str = "flags.yaml"
    # Where reports and artifacts go (relative to the project, or absolute); None: reports/
    # and artifacts/ in the project.
    reports_dir: str | None = None
    artifacts_dir: str | None = None
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    lint: LintSettings = field(default_factory=LintSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    test: TestSettings = field(default_factory=TestSettings)
    project_env: ProjectEnvSettings = field(default_factory=ProjectEnvSettings)
    # Order, time limit and enablement of every stage by name (built-in and custom).
    stages: dict[str, StageSettings] = field(default_factory=dict)
    custom: tuple[CustomStage, ...] = ()
    # Line of each stage's section (its `needs` where given), for errors about the DAG.
    lines: dict[str, int] = field(default_factory=dict)

    def stage(self, name: str) -> StageSettings:
        """The common settings of a stage (defaults when pipeline.yaml says nothing)."""
        return self.stages.get(name) or _common(name, {})

    def environment(self, name: str) -> Environment:
        """Return the named environment or raise a ConfigError that lists the valid ones."""
        if name not in self.environments:
            valid = ", ".join(sorted(self.environments))
            names = sorted(self.environments)
            close = [n for n in names if n.startswith(name)] or difflib.get_close_matches(
                name, names, n=1
            )
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{self.source}: unknown environment {name!r}",
                hint=f"{guess}use one of: {valid}, or declare it under 'environments'",
            )
        return self.environments[name]


# The environments that always exist. Production is conservative: a higher pass rate, and
# flaky tests and unscanned dependencies block it.
DEFAULT_GATES = {
    "ci": GateThresholds(),
    "staging": GateThresholds(),
    "production": GateThresholds(min_pass_rate=98.0, max_flaky=0, allow_unchecked_scanners=False),
}

GATE = Struct(
    {
        "min_pass_rate": Number(0, 100),
        "max_flaky": Optional(Number(0, integer=True)),
        "min_coverage": Optional(Number(0, 100)),
        "coverage_metric": Choice("line", "branch"),
        "max_findings": Struct({s: Optional(Number(0, integer=True)) for s in SEVERITIES}),
        "allow_unchecked_scanners": Boolean(),
        "max_slowdown": Optional(Number(0, 1000)),
    },
    defaults=dataclass_defaults(GateThresholds),
)
ENV_VARS = MapOf(ENV_VAR, Scalar())
ARGV = ListOf(Text(), min_items=1)
STAGE_COMMON = {
    "enabled": Boolean(),
    "needs": ListOf(STAGE_NAME, unique=True),
    "env": ENV_VARS,
    "timeout": Number(1, 86400),
}
STAGE_DEFAULTS = dataclass_defaults(StageSettings)
PROJECT_ENV = Struct(
    {
        "enabled": Boolean(),
        "groups": PATHS,
        "extras": PATHS,
        "requirements": PATHS,
        "install_project": Boolean(),
        "install": ListOf(ARGV, min_items=1),
        "python": Text(),
    },
    defaults=dataclass_defaults(ProjectEnvSettings),
)
URL = Text(r"https?://\S+", "an http(s) URL")
SCHEMA = Struct(
    {
        "version": Number(1, 1, integer=True),
        "name": Text(),
        "flags": Text(),
        "reports": Text(),
        "artifacts": Text(),
        "environments": MapOf(
            ENV_NAME,
            Struct(
                {
                    "gate": GATE,
                    "env": ENV_VARS,
                    "health": HEALTH,
                    "skip_stages": MapOf(STAGE_NAME, Text()),
                    "deploy": DEPLOY,
                }
            ),
        ),
        "monitoring": Struct(
            {
                "prometheus": URL,
                "alertmanager": URL,
                "pushgateway": URL,
                "grafana": URL,
                "config_dir": Text(),
            },
            defaults=dataclass_defaults(MonitoringSettings),
        ),
        "metrics": Struct(
            {"textfile": Text(), "pushgateway": URL, "job": Text(r"[a-zA-Z_][a-zA-Z0-9_]*")},
            defaults=dataclass_defaults(MetricsSettings),
        ),
        "project_env": PROJECT_ENV,
        "service": SERVICE,
        "retention": RETENTION,
        "stages": Named(
            {
                "install": Struct(STAGE_COMMON, defaults=STAGE_DEFAULTS),
                "lint": Struct(
                    {
                        **STAGE_COMMON,
                        "tools": ListOf(Choice(*LINTERS), unique=True),
                        "paths": PATHS,
                    },
                    defaults={**STAGE_DEFAULTS, **dataclass_defaults(LintSettings)},
                ),
                "security": Struct(
                    {
                        **STAGE_COMMON,
                        "scanners": ListOf(Choice(*SCANNERS), unique=True),
                        "paths": PATHS,
                        "exclude": PATHS,
                        "requirements": Text(),
                        "timeout": Number(1, 86400),
                    },
                    # Here `timeout` limits each scanner (the stage gets 60 s more).
                    defaults={**STAGE_DEFAULTS, **dataclass_defaults(SecuritySettings)},
                ),
                "test": Struct(
                    {
                        **STAGE_COMMON,
                        "command": ListOf(Text(), min_items=1),
                        "reruns": Number(0, 10, integer=True),
                        "coverage_source": PATHS,
                    },
                    defaults={**STAGE_DEFAULTS, **dataclass_defaults(TestSettings)},
                ),
                "health": Struct(STAGE_COMMON, defaults=STAGE_DEFAULTS),
                "gate": Struct(STAGE_COMMON, defaults=STAGE_DEFAULTS),
            },
            STAGE_NAME,
            Struct(
                {
                    **STAGE_COMMON,
                    "run": ListOf(ARGV, min_items=1),
                    "run_if": Choice(*RUN_IF),
                    "python": Choice("project", "tool"),
                    "junit": PATHS,
                    "coverage": PATHS,
                    "artifacts": PATHS,
                },
                required=("run",),
                defaults={**STAGE_DEFAULTS, **dataclass_defaults(CustomStage)},
            ),
            "stage (a custom stage needs 'run': a list of argv lists)",
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
    data, source = read_yaml_file(path)
    return from_data(data, source, default_name=project.resolve().name)


def from_data(data: Any, source: Source, *, default_name: str = "project") -> PipelineConfig:
    """Validate parsed YAML and merge it over the defaults."""
    raw = SCHEMA.check(data, (), source)
    environments = {name: Environment(name, gate) for name, gate in DEFAULT_GATES.items()}
    for name, env_raw in raw.get("environments", {}).items():
        base = environments.get(name, Environment(name, GateThresholds()))
        gate_raw = dict(env_raw.get("gate", {}))
        if "max_findings" in gate_raw:
            # Per severity over the defaults: limiting one severity never drops another's
            # limit. null makes a severity reported-only, and says so.
            gate_raw["max_findings"] = {**base.gate.max_findings, **gate_raw["max_findings"]}
        gate = GateThresholds(**{**base.gate.to_dict(), **gate_raw})
        health = HealthSettings.from_raw(env_raw.get("health", {}))
        environments[name] = Environment(
            name,
            gate,
            dict(env_raw.get("env", {})),
            health,
            dict(env_raw.get("skip_stages", {})),
            deploy_settings(env_raw.get("deploy", {}), source, ("environments", name, "deploy")),
        )
    stages = raw.get("stages", {})
    return PipelineConfig(
        name=raw.get("name", default_name),
        source=source.file,
        flags_file=raw.get("flags", "flags.yaml"),
        reports_dir=raw.get("reports"),
        artifacts_dir=raw.get("artifacts"),
        monitoring=MonitoringSettings(**raw.get("monitoring", {})),
        service=service_settings(raw.get("service", {})),
        retention=retention_settings(raw.get("retention", {})),
        metrics=MetricsSettings(**raw.get("metrics", {})),
        environments=environments,
        lint=LintSettings(**_own(stages.get("lint", {}), LintSettings)),
        security=SecuritySettings(**_own(stages.get("security", {}), SecuritySettings)),
        test=TestSettings(**_own(stages.get("test", {}), TestSettings)),
        project_env=_project_env(raw.get("project_env", {})),
        stages={name: _common(name, item) for name, item in stages.items()},
        custom=tuple(
            _custom(name, item, source)
            for name, item in stages.items()
            if name not in BUILTIN_STAGES
        ),
        lines={
            name: source.lines.get(("stages", name, "needs")) or source.lines[("stages", name)]
            for name in stages
            if ("stages", name) in source.lines
        },
    )


def _own(raw: dict[str, Any], settings: Any) -> dict[str, Any]:
    """The keys of a built-in stage's section that its own settings class holds."""
    names = {f.name for f in fields(settings)}
    return {key: value for key, value in raw.items() if key in names}


def _common(name: str, raw: dict[str, Any]) -> StageSettings:
    settings = StageSettings(**_own(raw, StageSettings))
    if name == "security":
        # security.timeout limits each scanner; the stage as a whole gets a little more so a
        # slow scanner ends as "not checked" rather than killing the stage.
        per_scanner = raw.get("timeout", SecuritySettings.timeout)
        settings = replace(settings, timeout=float(per_scanner) + 60)
    return settings


def _project_env(raw: dict[str, Any]) -> ProjectEnvSettings:
    return ProjectEnvSettings(**raw)


def _custom(name: str, raw: dict[str, Any], source: Source) -> CustomStage:
    outputs = {key: tuple(raw.get(key, ())) for key in ("junit", "coverage", "artifacts")}
    for key, paths in outputs.items():
        for index, path in enumerate(paths):
            # Container runners mount only reports/<stage>/ writable: what a stage keeps lives
            # there on every runner.
            parts = PurePosixPath(path).parts
            if len(parts) < 3 or parts[:2] != ("reports", name) or ".." in parts:
                raise source.error(
                    ("stages", name, key, index),
                    f"{path!r} is not inside reports/{name}/",
                    hint=f"write the stage's reports under reports/{name}/ (the one directory "
                    "every runner lets the stage write)",
                )
    return CustomStage(
        name=name,
        run=tuple(raw["run"]),
        settings=_common(name, raw),
        run_if=raw.get("run_if", "success"),
        python=raw.get("python", "project"),
        junit=outputs["junit"],
        coverage=outputs["coverage"],
        artifacts=outputs["artifacts"],
    )
