"""The exact argv of every tool a stage runs, from config and the project's facts (pure).

The plan shows these and the stages run them, so what ``pipelines plan`` prints is what runs.
``{env}`` stands for the project's environment until a stage knows where it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipelines.config import PipelineConfig
from pipelines.layout import COVERAGE, JUNIT, REPORT_LOG, REPORTS
from pipelines.project_facts import ProjectFacts

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


def lint_commands(
    config: PipelineConfig, facts: ProjectFacts, python: str = ENV_PYTHON, reports: str = REPORTS
) -> dict[str, list[str]]:
    """Each configured linter's argv; without ``lint.paths`` the project's own config decides."""
    paths = list(config.lint.paths or ())
    commands = {
        "ruff": ["ruff", "check", "--exit-zero", "--no-cache", "--output-format=json", *paths],
        "ruff-format": ["ruff", "format", "--check", "--no-cache", "--output-format=json", *paths],
    }
    mypy = [
        "mypy",
        "--no-error-summary",
        "--no-pretty",
        "--show-error-codes",
        "--cache-dir",
        f"{reports}/lint/.mypy_cache",
    ]
    if config.project_env.enabled:
        # The project's imports resolve in its own environment, not in the SDK's.
        mypy += ["--python-executable", python]
    if paths:
        mypy += paths
    elif not facts.mypy_targets_configured:
        mypy.append(".")
    commands["mypy"] = mypy
    return {tool: commands[tool] for tool in lint_tools(config, facts)}


def lint_tools(config: PipelineConfig, facts: ProjectFacts) -> tuple[str, ...]:
    """The linters that run: pipeline.yaml's list, else ruff, and ruff's formatter check only
    for a project that formats its code (a style it never chose is not a finding)."""
    if config.lint.tools is not None:
        return config.lint.tools
    return ("ruff", "ruff-format") if facts.formats_code else ("ruff",)


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
