"""The declared types and loader of pipeline.yaml; a missing file means defaults for a Python
project.

``PipelineFile`` is the file as written (every key, its type and default, declared once); the
JSON Schema is emitted from it. ``PipelineConfig`` is what the rest of the SDK uses: the same
declared type (so a key added to it is a key of the config), with its environments merged over
each one's own defaults, its custom stages, and where it was read from.
"""

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, ClassVar, Literal, get_args

import msgspec
from msgspec import Meta

from pipelines.config.deploy import DeploySettings, ServiceSettings
from pipelines.config.health import HealthSettings
from pipelines.config.retention import RetentionSettings
from pipelines.config.schema import (
    LOWER_NAME,
    EnvVarName,
    Invalid,
    LowerName,
    Model,
    ScalarText,
    Text,
    Url,
    decode,
    matching,
    suggest,
)
from pipelines.config.yaml_source import Source, read_yaml_file
from pipelines.errors import ConfigError, closest, did_you_mean
from pipelines.severity import LIMITED, Severity

CONFIG_FILE = "pipeline.yaml"
Linter = Literal["ruff", "ruff-format", "black", "isort", "flake8", "mypy", "pyupgrade"]
Scanner = Literal["bandit", "detect-secrets", "pip-audit"]
RunIf = Literal["success", "always"]
RUN_IF: tuple[str, ...] = get_args(RunIf)
DEFAULT_STAGE_TIMEOUT = 3600.0
STAGE_PATTERN = LOWER_NAME
STAGE_WORDS = "a lower-case stage name such as 'build'"
StageName = Annotated[str, matching(STAGE_PATTERN, STAGE_WORDS)]
Paths = tuple[Text, ...]
Argv = Annotated[tuple[Text, ...], Meta(min_length=1)]
Percent = Annotated[float, Meta(ge=0, le=100)]
Limit = Annotated[int, Meta(ge=0)] | None
Seconds = Annotated[float, Meta(ge=1, le=86400)]
# Variables passed to children from the invoking environment, by name or glob (tox-style).
PassEnv = tuple[
    Annotated[str, matching(r"[A-Za-z0-9_*?\[\]!]+", "a variable name or glob such as 'AWS_*'")],
    ...,
]


class GateThresholds(Model, frozen=True):
    """What one environment demands of the reports before a deploy may proceed."""

    min_pass_rate: Percent = 95.0
    max_flaky: Annotated[int, Meta(ge=0)] | None = None
    min_coverage: Percent | None = None
    coverage_metric: Literal["line", "branch"] = "line"
    # A severity without a limit (absent or null) is reported, never judged. Limits given in
    # pipeline.yaml are merged over these, per severity.
    max_findings: dict[Severity, Limit] = msgspec.field(
        default_factory=lambda: {Severity.CRITICAL: 0, Severity.HIGH: 0}
    )
    allow_unchecked_scanners: bool = True
    # Percent a benchmark may be significantly slower than its baseline (`pipelines perf
    # compare`); None: slowdowns are reported, never judged.
    max_slowdown: Annotated[float, Meta(ge=0, le=1000)] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for severity in self.max_findings:
            if severity not in LIMITED:
                names = ", ".join(s.value for s in LIMITED)
                raise Invalid(
                    f"{severity.value} findings are reported, never limited",
                    key=("max_findings", severity.value),
                    hint=f"limit one of: {names}",
                )


class MonitoringSettings(Model, frozen=True):
    """Where the monitoring stack answers, and where its configuration lives."""

    prometheus: Url | None = None
    alertmanager: Url | None = None
    pushgateway: Url | None = None
    grafana: Url | None = None
    config_dir: Text = "containers/monitoring"


class MetricsSettings(Model, frozen=True):
    """Where a run's metrics go: a node_exporter textfile and/or a Pushgateway."""

    # node_exporter reads only *.prom files: the host never replaces any other file with one
    # (a pipeline.yaml naming ~/.bashrc or authorized_keys here).
    textfile: (
        Annotated[str, matching(r".+\.prom", "a node_exporter textfile (NAME.prom)")] | None
    ) = None
    pushgateway: Url | None = None
    job: Annotated[str, matching(r"[a-zA-Z_][a-zA-Z0-9_]*", "a Prometheus job name")] = "pipelines"


class ProjectEnvSettings(Model, frozen=True):
    """The project's own virtualenv: what it is built from (defaults: what the project declares)."""

    unique_lists: ClassVar[tuple[str, ...]] = ("groups", "extras", "requirements")

    enabled: bool = True
    groups: Paths | None = None
    extras: Paths | None = None
    requirements: Paths | None = None
    install_project: bool | None = None
    install: Annotated[tuple[Argv, ...], Meta(min_length=1)] | None = None
    python: Text | None = None


class StageSettings(Model, frozen=True, kw_only=True):
    """What every stage, built-in or custom, can be given: order, environment, time limit."""

    unique_lists: ClassVar[tuple[str, ...]] = ("needs",)

    enabled: bool = True
    needs: tuple[StageName, ...] = ()
    env: dict[EnvVarName, ScalarText] = {}
    pass_env: PassEnv = ()
    timeout: Seconds = DEFAULT_STAGE_TIMEOUT

    def common(self) -> "StageSettings":
        """Only the settings every stage has."""
        return StageSettings(
            enabled=self.enabled,
            needs=self.needs,
            env=self.env,
            pass_env=self.pass_env,
            timeout=self.timeout,
        )


class LintSettings(StageSettings, frozen=True, kw_only=True):
    """Which linters run over which paths (None: what the project's own config says)."""

    unique_lists: ClassVar[tuple[str, ...]] = ("needs", "tools", "paths")

    # None: the linters the project declares (pre-commit hooks, lint/dev dependencies, tox,
    # [tool.X] sections), else ruff check.
    tools: tuple[Linter, ...] | None = None
    paths: Paths | None = None
    # A version per linter, over the one the project pins.
    versions: dict[Linter, ScalarText] | None = None


class SecuritySettings(StageSettings, frozen=True, kw_only=True):
    """Which scanners run, over what, and how long each scanner may take (``timeout``; the
    stage as a whole gets a minute more, so a slow scanner ends as "not checked")."""

    unique_lists: ClassVar[tuple[str, ...]] = ("needs", "scanners", "paths", "exclude")

    scanners: tuple[Scanner, ...] = ("bandit", "detect-secrets", "pip-audit")
    paths: Paths = (".",)
    exclude: Paths = ("tests", ".venv", "venv", "reports", "artifacts")
    requirements: Text | None = None
    timeout: Seconds = 300.0

    def common(self) -> "StageSettings":
        return msgspec.structs.replace(super().common(), timeout=self.timeout + 60)


class TestSettings(StageSettings, frozen=True, kw_only=True):
    """How the test suite runs: the pytest command, reruns and coverage source."""

    __test__ = False  # not a pytest test class, whatever its name
    unique_lists: ClassVar[tuple[str, ...]] = ("needs", "coverage_source")

    command: Argv = ("python", "-m", "pytest")
    reruns: Annotated[int, Meta(ge=0, le=10)] = 0
    coverage_source: Paths | None = None


class CustomStageFile(StageSettings, frozen=True, kw_only=True):
    """A stage the project declares: its commands and the reports it feeds to the gate
    (under ``reports/<stage>/``, the one directory every runner lets a stage write)."""

    unique_lists: ClassVar[tuple[str, ...]] = ("needs", "junit", "coverage", "artifacts")

    run: Annotated[tuple[Argv, ...], Meta(min_length=1)]
    run_if: RunIf = "success"
    # "project": the project's virtualenv; "tool": the SDK's own.
    python: Literal["project", "tool"] = "project"
    junit: Paths = ()
    coverage: Paths = ()
    artifacts: Paths = ()


class Stages(Model, frozen=True):
    """The built-in stages' settings; any other name is a custom stage."""

    schema_extra: ClassVar[dict[str, Any]] = {
        "propertyNames": {"pattern": f"^(?:{STAGE_PATTERN})$"},
        "additionalProperties": {"$ref": "#/$defs/CustomStageFile"},
    }

    install: StageSettings = StageSettings()
    lint: LintSettings = LintSettings()
    security: SecuritySettings = SecuritySettings()
    test: TestSettings = TestSettings()
    health: StageSettings = StageSettings()
    gate: StageSettings = StageSettings()


# The built-in stages, in the order of their settings (one declaration: ``Stages``).
BUILTIN_STAGES: tuple[str, ...] = Stages.__struct_fields__


class EnvironmentFile(Model, frozen=True):
    """An environment as pipeline.yaml declares it (its gate over the environment's own
    defaults: production is stricter)."""

    gate: GateThresholds = GateThresholds()
    env: dict[EnvVarName, ScalarText] = {}
    # Variables its stages and deployed instances get from the invoking environment.
    pass_env: PassEnv = ()
    health: HealthSettings = HealthSettings()
    # Stages this environment cannot run, each with the reason the plan shows.
    skip_stages: dict[StageName, Text] = {}
    deploy: DeploySettings = msgspec.field(default_factory=DeploySettings)


class Environment(EnvironmentFile, frozen=True, kw_only=True):
    """An environment as the SDK uses it: its declared settings and its name, with the gate's
    keys written in pipeline.yaml merged over the environment's own defaults."""

    name: str


class PipelineFile(Model, frozen=True):
    """pipeline.yaml."""

    version: Literal[1] = 1
    name: Text | None = None  # None: the project directory's name
    flags: Text = "flags.yaml"
    # Where reports and artifacts go (relative to the project, or absolute); None: reports/
    # and artifacts/ in the project.
    reports: Text | None = None
    artifacts: Text | None = None
    # Variables every stage and deployed instance gets from the invoking environment, by name
    # or glob, beyond the defaults (docs/environment.md).
    pass_env: PassEnv = ()
    # A Mapping (read-only): the loaded config holds its merged environments here.
    environments: Mapping[LowerName, EnvironmentFile] = {}
    monitoring: MonitoringSettings = MonitoringSettings()
    metrics: MetricsSettings = MetricsSettings()
    project_env: ProjectEnvSettings = ProjectEnvSettings()
    service: ServiceSettings = ServiceSettings()
    retention: RetentionSettings = msgspec.field(default_factory=RetentionSettings)
    stages: Stages = Stages()


class CustomStage(CustomStageFile, frozen=True, kw_only=True):
    """A custom stage with its name (the key it was declared under)."""

    name: str


class PipelineConfig(PipelineFile, frozen=True, kw_only=True):
    """A validated pipeline.yaml (or the defaults when there is none): every declared key as
    written, plus what loading it adds."""

    name: str  # the project directory's name when pipeline.yaml gives none
    environments: Mapping[str, Environment] = {}
    source: str  # the file it was read from (named by every error about it)
    custom: tuple[CustomStage, ...] = ()
    # Line of each stage's section (its `needs` where given), for errors about the DAG.
    lines: dict[str, int] = {}

    # Views under the names the rest of the SDK has always used.
    @property
    def flags_file(self) -> str:
        """The flags file (``flags``), relative to the project."""
        return self.flags

    @property
    def reports_dir(self) -> str | None:
        """Where reports go (``reports``); None: reports/ in the project."""
        return self.reports

    @property
    def artifacts_dir(self) -> str | None:
        """Where artifacts go (``artifacts``); None: artifacts/ in the project."""
        return self.artifacts

    @property
    def lint(self) -> LintSettings:
        """The lint stage's settings."""
        return self.stages.lint

    @property
    def security(self) -> SecuritySettings:
        """The security stage's settings."""
        return self.stages.security

    @property
    def test(self) -> TestSettings:
        """The test stage's settings."""
        return self.stages.test

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Every stage by name: the built-in ones, then the custom ones."""
        return (*BUILTIN_STAGES, *(stage.name for stage in self.custom))

    def stage(self, name: str) -> "StageSettings":
        """The common settings of a stage (defaults when pipeline.yaml says nothing)."""
        if name in BUILTIN_STAGES:
            settings: StageSettings = getattr(self.stages, name)
            return settings.common()
        for custom in self.custom:
            if custom.name == name:
                return custom.common()
        return StageSettings()

    def environment(self, name: str) -> Environment:
        """Return the named environment or raise a ConfigError that lists the valid ones."""
        if name not in self.environments:
            valid = ", ".join(sorted(self.environments))
            raise ConfigError(
                f"{self.source}: unknown environment {name!r}",
                hint=f"{did_you_mean(name, self.environments)}use one of: {valid}, "
                "or declare it under 'environments'",
            )
        return self.environments[name]


# The environments that always exist. Production is conservative: a higher pass rate, and
# flaky tests and unscanned dependencies block it.
DEFAULT_GATES = {
    "ci": GateThresholds(),
    "staging": GateThresholds(),
    "production": GateThresholds(min_pass_rate=98.0, max_flaky=0, allow_unchecked_scanners=False),
}


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
    custom_data: dict[str, Any] = {}
    if isinstance(data, Mapping) and isinstance(data.get("stages"), Mapping):
        # Any name but a built-in one is a custom stage, of its own type.
        stages_data = data["stages"]
        builtin = {k: v for k, v in stages_data.items() if k in BUILTIN_STAGES}
        custom_data = {k: v for k, v in stages_data.items() if k not in BUILTIN_STAGES}
        data = {**data, "stages": builtin}
    declared = decode(data, PipelineFile, source)
    custom = tuple(_custom(name, item, source) for name, item in custom_data.items())
    given = (data.get("stages") or {}) if isinstance(data, Mapping) else {}
    named = [*given, *custom_data]
    return PipelineConfig(
        **{
            **msgspec.structs.asdict(declared),
            "name": declared.name or default_name,
            "environments": _environments(declared, data),
        },
        source=source.file,
        custom=custom,
        lines={
            name: source.lines.get(("stages", name, "needs")) or source.lines[("stages", name)]
            for name in named
            if ("stages", name) in source.lines
        },
    )


def _environments(declared: PipelineFile, data: Any) -> dict[str, Environment]:
    environments = {name: Environment(name=name, gate=gate) for name, gate in DEFAULT_GATES.items()}
    for name, env in declared.environments.items():
        # The gate keys written in the file, over the environment's own defaults; limits of
        # findings per severity, so limiting one severity never drops another's limit (null
        # makes a severity reported-only, and says so).
        written = (data["environments"][name] or {}).get("gate") or {}
        base = environments[name].gate if name in environments else GateThresholds()
        given = {key: getattr(env.gate, key) for key in written}
        if "max_findings" in given:
            given["max_findings"] = {**base.max_findings, **env.gate.max_findings}
        environments[name] = Environment(
            **{**msgspec.structs.asdict(env), "gate": msgspec.structs.replace(base, **given)},
            name=name,
        )
    for name, environment in environments.items():
        passed = declared.environments[name].pass_env if name in declared.environments else ()
        environments[name] = msgspec.structs.replace(
            environment, pass_env=tuple(dict.fromkeys((*declared.pass_env, *passed)))
        )
    return environments


def _custom(name: str, data: Any, source: Source) -> CustomStage:
    where = ("stages", str(name))
    if not isinstance(name, str) or not re.fullmatch(STAGE_PATTERN, name):
        raise source.error(where, f"expected {STAGE_WORDS}, got {name!r}")
    try:
        settings = decode(data, CustomStageFile, source, where)
    except ConfigError:
        if closest(name, BUILTIN_STAGES):
            raise source.error(
                where,
                "unknown stage (a custom stage needs 'run': a list of argv lists)",
                suggest(name, BUILTIN_STAGES),
            ) from None
        raise
    for key in ("junit", "coverage", "artifacts"):
        for index, path in enumerate(getattr(settings, key)):
            # Container runners mount only reports/<stage>/ writable: what a stage keeps lives
            # there on every runner.
            parts = PurePosixPath(path).parts
            # artifacts may name the stage's whole directory; reports name files in it.
            shortest = 2 if key == "artifacts" else 3
            if len(parts) < shortest or parts[:2] != ("reports", name) or ".." in parts:
                raise source.error(
                    (*where, key, index),
                    f"{path!r} is not inside reports/{name}/",
                    hint=f"write the stage's reports under reports/{name}/ (the one directory "
                    "every runner lets the stage write)",
                )
    return CustomStage(name=name, **msgspec.structs.asdict(settings))
