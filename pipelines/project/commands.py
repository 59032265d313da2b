"""The exact argv of every tool a stage runs, from config and the project's facts (pure).

The plan shows these and the stages run them, so what ``pipelines plan`` prints is what runs.
``{env}`` stands for the project's environment until a stage knows where it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from pipelines.config.pipeline import PipelineConfig
from pipelines.layout import COVERAGE, JUNIT, REPORT_LOG, REPORTS
from pipelines.project.facts import ProjectFacts
from pipelines.project.linters import PACKAGES, DeclaredTool, sdk_version

ENV_PYTHON = "{env}/bin/python"
# Generated or vendored trees no scanner should read, whatever the config says.
ALWAYS_EXCLUDED = (
    ".git",
    "reports",
    "artifacts",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "build",
    "dist",
    "node_modules",
    "__pycache__",
    ".ruff_cache",
    ".mypy_cache",
    ".pytest_cache",
)
# Files of hashes no secret scanner should read: the audit log this SDK writes beside a flags
# file (and its head), and detect-secrets' own baseline.
SDK_WRITTEN = ("flags-audit.jsonl", "flags-audit.jsonl.head", ".secrets.baseline")
# Test modules outside a tests/ directory (pytest's default names); skipped with "tests".
_TESTS = "tests"
TEST_FILES = ("test_*.py", "*_test.py", "conftest.py")


def python_argv(argv: Sequence[str], python: str) -> list[str]:
    """A bare ``python`` in a configured command means the given interpreter."""
    if argv and argv[0] in ("python", "python3"):
        return [python, *argv[1:]]
    return list(argv)


FILES = "{files}"  # the files a pre-commit hook matches, found when the stage runs
# Options that would make a linter rewrite the project's files: a stage only ever checks.
_FIXING = ("--fix", "--unsafe-fixes", "--fix-only", "--exit-non-zero-on-fix", "--in-place", "-i")


def lint_tools(config: PipelineConfig, facts: ProjectFacts) -> tuple[DeclaredTool, ...]:
    """The linters that run: pipeline.yaml's list, else what the project declares, else the
    SDK's ruff check; each at pipeline.yaml's version, else the project's, else the SDK's."""
    declared = {tool.name: tool for tool in facts.linters}
    if config.lint.tools is not None:
        chosen = [
            declared.get(name)
            or DeclaredTool(name, sdk_version(PACKAGES[name]), "pipeline.yaml lint.tools")
            for name in config.lint.tools
        ]
    elif declared:
        chosen = list(declared.values())
    else:
        chosen = [
            DeclaredTool("ruff", sdk_version("ruff"), "the SDK (the project names no linter)")
        ]
    versions = config.lint.versions or {}
    return tuple(
        msgspec.structs.replace(
            tool, version=str(versions[tool.name]), source="pipeline.yaml lint.versions"
        )
        if tool.name in versions
        else tool
        for tool in chosen
    )


def lint_commands(
    config: PipelineConfig, facts: ProjectFacts, python: str = ENV_PYTHON, reports: str = REPORTS
) -> dict[str, list[str]]:
    """Each linter's argv, checking only (nothing rewrites a file). Without ``lint.paths`` the
    project's own configuration, hook or tox command decides what is checked."""
    return {
        tool.name: lint_argv(tool, config, facts, python, reports)
        for tool in lint_tools(config, facts)
    }


def lint_argv(
    tool: DeclaredTool,
    config: PipelineConfig,
    facts: ProjectFacts,
    python: str = ENV_PYTHON,
    reports: str = REPORTS,
) -> list[str]:
    """One linter's argv: its check-only options, the project's arguments, then its targets."""
    args = [a for a in tool.args if a not in _FIXING and not a.startswith("--fix=")]
    explicit = list(config.lint.paths or ())
    if tool.pre_commit and not explicit:
        explicit = [FILES]
    own = {
        "ruff": ["ruff", "check", "--no-fix", "--exit-zero", "--no-cache", "--output-format=json"],
        "ruff-format": ["ruff", "format", "--check", "--no-cache"],
        "black": ["black", "--check", "--diff"],
        "isort": ["isort", "--check-only", "--diff"],
        "flake8": ["flake8", "--exit-zero", "--format=%(path)s:%(row)d:%(col)d: %(code)s %(text)s"],
        "pyupgrade": ["pyupgrade"],
        "mypy": [
            "mypy",
            "--no-error-summary",
            "--no-pretty",
            "--show-error-codes",
            "--cache-dir",
            f"{reports}/lint/.mypy_cache",
        ],
    }[tool.name]
    if tool.name in ("ruff", "ruff-format") and tool.pre_commit:
        own.append("--force-exclude")  # the hook's own option: the config's excludes hold
    if tool.name == "mypy" and config.project_env.enabled and not tool.pre_commit:
        # The project's imports resolve in its own environment, not in the tool's.
        own += ["--python-executable", python]
    targets = explicit
    if not targets and not _names_targets(args):
        targets = _default_targets(tool, facts)
    return [*own, *args, *targets]


def mypy_has_targets(tool: DeclaredTool, config: PipelineConfig, facts: ProjectFacts) -> bool:
    """Whether anything names what mypy checks (without it mypy checks nothing and says so)."""
    return bool(
        config.lint.paths
        or tool.pre_commit
        or facts.mypy_targets_configured
        or _names_targets(tool.args)
        or facts.package_dirs
    )


def _names_targets(args: Sequence[str]) -> bool:
    """Whether the project's own arguments already say what to check."""
    return any(not a.startswith("-") for a in args)


def lint_uses_project_env(config: PipelineConfig, facts: ProjectFacts) -> bool:
    """mypy resolves the project's imports in the project's environment (not the pre-commit
    way, where the hook's own dependencies are all it sees)."""
    return config.project_env.enabled and any(
        tool.name == "mypy" and not tool.pre_commit for tool in lint_tools(config, facts)
    )


def typing_requirements(config: PipelineConfig, facts: ProjectFacts) -> tuple[str, ...]:
    """What mypy needs in the project's environment: its typing group and the extra
    dependencies of its mypy (tox deps)."""
    if not lint_uses_project_env(config, facts):
        return ()
    extra = [r for t in lint_tools(config, facts) if t.name == "mypy" for r in t.extra]
    return tuple(dict.fromkeys([*facts.typing_requirements, *extra]))


def _default_targets(tool: DeclaredTool, facts: ProjectFacts) -> list[str]:
    if tool.name == "mypy":
        # mypy's own files setting, else the project's package directories (never ".": docs
        # and examples are not the project's code).
        return [] if facts.mypy_targets_configured else list(facts.package_dirs)
    if tool.name in ("black", "isort", "flake8"):
        return ["."]
    if tool.name == "pyupgrade":
        return [FILES]
    return []


def excluded(config: PipelineConfig, facts: ProjectFacts) -> list[str]:
    """What no scanner reads: generated trees, where reports and artifacts go, the config's
    excludes and bandit's own."""
    placed = [d.strip("/") for d in (config.reports_dir, config.artifacts_dir) if d]
    return sorted({*ALWAYS_EXCLUDED, *placed, *config.security.exclude, *facts.bandit_exclude})


def security_commands(
    config: PipelineConfig, facts: ProjectFacts, python: str = ENV_PYTHON
) -> dict[str, list[str]]:
    """Each configured scanner's argv."""
    settings = config.security
    skip = excluded(config, facts)
    test_files = TEST_FILES if _TESTS in skip else ()
    # Both scanners skip the same places: each excluded name at any depth, and (when tests
    # are excluded) test modules wherever they lie. bandit matches its globs against the
    # paths it walks ("./tests/x.py"), so give every form.
    bandit_skip = ",".join(
        [
            *(form for e in skip for form in (e, f"./{e}", f"*/{e}", f"*/{e}/*")),
            *(form for f in test_files for form in (f, f"*/{f}")),
        ]
    )
    secret_skip = [
        *("(.*/)?" + re.escape(e) + "(/|$)" for e in skip),
        *("(.*/)?" + re.escape(f) + "$" for f in SDK_WRITTEN),  # in any directory
        *("(.*/)?" + re.escape(f).replace(r"\*", "[^/]*") + "$" for f in test_files),
    ]
    pip_audit = ["pip-audit", "--format", "json", "--progress-spinner", "off"]
    if settings.requirements:
        # Pinned requirements are read as they are: nothing is installed to resolve them.
        pip_audit += ["--requirement", settings.requirements, "--no-deps", "--disable-pip"]
    elif config.project_env.enabled:
        # The project's environment (pip-audit asks the interpreter in PIPAPI_PYTHON_LOCATION);
        # the project itself is not on any index.
        pip_audit += ["--skip-editable"]
    commands = {
        "bandit": [
            "bandit",
            "-r",
            "-f",
            "json",
            "-q",
            *facts.bandit_config,
            "-x",
            bandit_skip,
            *settings.paths,
        ],
        "detect-secrets": [
            "detect-secrets",
            "scan",
            "--all-files",
            "--exclude-files",
            "^(" + "|".join(secret_skip) + ")",
            *settings.paths,
        ],
        "pip-audit": pip_audit,
    }
    return {scanner: commands[scanner] for scanner in settings.scanners}


def pip_audit_uses_project_env(config: PipelineConfig) -> bool:
    """pip-audit audits the project's environment (not pinned requirements)."""
    return (
        "pip-audit" in config.security.scanners
        and not config.security.requirements
        and config.project_env.enabled
    )


def pytest_command(
    config: PipelineConfig, facts: ProjectFacts, python: str = ENV_PYTHON, reports: str = REPORTS
) -> list[str]:
    """The full pytest argv: the configured command plus the reporting options."""
    settings = config.test
    argv = [
        *python_argv(settings.command, python),
        f"--junitxml={reports}/test/{JUNIT}",
        f"--report-log={reports}/test/{REPORT_LOG}",
        "--cov-report=",
        f"--cov-report=xml:{reports}/test/{COVERAGE}",
        "-p",
        "no:cacheprovider",  # keeps a read-only source tree untouched
    ]
    if settings.coverage_source:
        argv += [f"--cov={source}" for source in settings.coverage_source]
    elif facts.coverage_source_configured:
        argv.append("--cov")  # the project's own [coverage:run] source
    else:
        argv.append("--cov=.")
    if settings.reruns:
        argv += ["--reruns", str(settings.reruns)]
    return argv
