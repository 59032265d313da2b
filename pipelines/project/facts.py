"""What a project declares about itself: how to install it and how it configures its tools.

Read once from the project's files (pyproject.toml, setup.cfg, mypy.ini, ...), so the plan can
show the exact commands and the stages can run them the same way. The project's own settings
win: a stage passes a tool its own defaults only where the project has none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import msgspec

from pipelines.errors import ConfigError
from pipelines.project.linters import DeclaredTool, discover, read_toml, typing_requirements
from pipelines.project.tool_groups import tool_groups

# requirement files under the names projects commonly use, most specific first.
REQUIREMENT_FILES = (
    "requirements.txt",
    "requirements-dev.txt",
    "requirements_dev.txt",
    "dev-requirements.txt",
    "requirements-test.txt",
    "requirements_test.txt",
    "requirements-tests.txt",
    "requirements-testing.txt",
    "test-requirements.txt",
    "test_requirements.txt",
    "requirements/base.txt",
    "requirements/dev.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "requirements/testing.txt",
)
# PEP 735 groups first (a tool's own table under the same name gives way), then tox's deps.
TEST_GROUPS = ("tests", "test", "testing", "dev", "testenv")
TEST_EXTRAS = ("test", "tests", "testing")
DEV_EXTRA = "dev"  # taken only when no test extra exists (it usually holds the test tools)
# Files whose contents decide what the project's environment holds.
DEFINING_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


class ProjectFacts(msgspec.Struct, frozen=True):
    """The install sources and tool settings a project declares."""

    installable: bool = False
    name: str | None = None
    groups: dict[str, tuple[str, ...]] | None = None
    extras: tuple[str, ...] = ()
    requirement_files: tuple[str, ...] = ()
    mypy_targets_configured: bool = False
    coverage_source_configured: bool = False
    bandit_config: tuple[str, ...] = ()
    bandit_exclude: tuple[str, ...] = ()
    secrets_baseline: str | None = None
    ruff_includes_markdown: bool = False
    linters: tuple[DeclaredTool, ...] = ()  # the linters it declares, at their versions
    package_dirs: tuple[str, ...] = ()  # what mypy checks when nothing names its files
    typing_requirements: tuple[str, ...] = ()  # what its type checking needs installed


def read_facts(project: Path) -> ProjectFacts:
    """Read the facts of ``project``; a pyproject.toml that is not TOML is a ConfigError."""
    pyproject = read_toml(project / "pyproject.toml")
    setup_cfg = _read_ini(project / "setup.cfg")
    tool = pyproject.get("tool", {}) if isinstance(pyproject.get("tool"), dict) else {}
    declared = pyproject.get("project", {})
    extras = declared.get("optional-dependencies", {}) if isinstance(declared, dict) else {}
    groups = pyproject.get("dependency-groups")
    return ProjectFacts(
        installable=bool(
            (isinstance(declared, dict) and declared.get("name"))
            or "build-system" in pyproject
            or (project / "setup.py").is_file()
            or setup_cfg.has_section("metadata")
        ),
        name=str(declared["name"]) if isinstance(declared, dict) and declared.get("name") else None,
        groups={
            **tool_groups(tool, project),
            **(_resolve_groups(groups, project) if isinstance(groups, dict) else {}),
        }
        or None,
        extras=tuple(sorted(extras)) if isinstance(extras, dict) else (),
        requirement_files=tuple(f for f in REQUIREMENT_FILES if (project / f).is_file()),
        mypy_targets_configured=_mypy_configured(project, tool, setup_cfg),
        coverage_source_configured=_coverage_configured(project, tool, setup_cfg),
        bandit_config=_bandit_config(project, tool),
        bandit_exclude=_bandit_exclude(project, tool),
        secrets_baseline=".secrets.baseline" if (project / ".secrets.baseline").is_file() else None,
        linters=discover(project),
        package_dirs=_package_dirs(project),
        typing_requirements=typing_requirements(project),
        ruff_includes_markdown=".md"
        in str(tool.get("ruff", {}).get("include", ""))
        + str(tool.get("ruff", {}).get("extend-include", "")),
    )


class _Ini(Protocol):
    """What the facts ask of an INI file."""

    def has_section(self, section: str) -> bool: ...

    def has_option(self, section: str, option: str) -> bool: ...


class _Missing:
    """A missing INI file: no sections (and no configparser loaded to say so)."""

    def has_section(self, section: str) -> bool:
        return False

    def has_option(self, section: str, option: str) -> bool:
        return False


def _read_ini(path: Path) -> _Ini:
    if not path.is_file():
        return _Missing()
    import configparser  # noqa: PLC0415 - only a project with the file pays for it

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid INI file: {exc}") from exc
    return parser


def _resolve_groups(groups: dict[str, Any], project: Path) -> dict[str, tuple[str, ...]]:
    """PEP 735 groups as plain requirement strings, ``include-group`` entries expanded."""
    resolved: dict[str, tuple[str, ...]] = {}

    def expand(name: str, seen: tuple[str, ...]) -> tuple[str, ...]:
        if name in seen:
            chain = " -> ".join((*seen, name))
            raise ConfigError(
                f"{project / 'pyproject.toml'}: dependency-groups: {chain} includes itself"
            )
        if name not in groups:
            raise ConfigError(
                f"{project / 'pyproject.toml'}: dependency-groups.{seen[-1]}: includes "
                f"{name!r}, which is not a group"
            )
        items: list[str] = []
        for item in groups[name] or ():
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, dict) and "include-group" in item:
                items.extend(expand(str(item["include-group"]), (*seen, name)))
        return tuple(items)

    for name in groups:
        resolved[name] = expand(name, ())
    return resolved


def _mypy_configured(project: Path, tool: dict[str, Any], setup_cfg: _Ini) -> bool:
    keys = ("files", "packages", "modules")
    mypy = tool.get("mypy", {})
    if isinstance(mypy, dict) and any(k in mypy for k in keys):
        return True
    for name in ("mypy.ini", ".mypy.ini"):
        parser = _read_ini(project / name)
        if parser.has_section("mypy") and any(parser.has_option("mypy", k) for k in keys):
            return True
    return bool(setup_cfg.has_section("mypy") and setup_cfg.has_option("mypy", "files"))


def _coverage_configured(project: Path, tool: dict[str, Any], setup_cfg: _Ini) -> bool:
    run = tool.get("coverage", {}).get("run", {}) if isinstance(tool.get("coverage"), dict) else {}
    if isinstance(run, dict) and ("source" in run or "source_pkgs" in run):
        return True
    rc = _read_ini(project / ".coveragerc")
    if rc.has_section("run") and rc.has_option("run", "source"):
        return True
    for parser in (setup_cfg, _read_ini(project / "tox.ini")):
        if parser.has_section("coverage:run") and parser.has_option("coverage:run", "source"):
            return True
    return False


def _bandit_config(project: Path, tool: dict[str, Any]) -> tuple[str, ...]:
    """The bandit options that make it read the project's own configuration."""
    for name in ("bandit.yaml", "bandit.yml", ".bandit.yaml", ".bandit.yml"):
        if (project / name).is_file():
            return ("-c", name)
    if "bandit" in tool:
        return ("-c", "pyproject.toml")
    if (project / ".bandit").is_file():
        return ("--ini", ".bandit")
    return ()


def _bandit_exclude(project: Path, tool: dict[str, Any]) -> tuple[str, ...]:
    """bandit's own ``exclude_dirs`` (our ``-x`` would otherwise replace them)."""
    config = tool.get("bandit", {})
    if not isinstance(config, dict):
        return ()
    dirs = config.get("exclude_dirs", ())
    return tuple(str(d).strip("./") or str(d) for d in dirs) if isinstance(dirs, list) else ()


# Top-level directories that hold a project's tests, docs or examples, not its package.
_NOT_PACKAGES = ("tests", "test", "testing", "docs", "doc", "examples", "benchmarks", "scripts")


def _package_dirs(project: Path) -> tuple[str, ...]:
    """The project's own code: ``src``, else its top-level packages, else its modules."""
    if (project / "src").is_dir():
        return ("src",)
    packages = sorted(
        entry.name
        for entry in project.iterdir()
        if entry.is_dir()
        and not entry.is_symlink()
        and entry.name not in _NOT_PACKAGES
        and (entry / "__init__.py").is_file()
    )
    if packages:
        return tuple(packages)
    return tuple(
        sorted(
            entry.name
            for entry in project.glob("*.py")
            if entry.name not in ("setup.py", "conftest.py", "noxfile.py")
            and not entry.name.startswith("test_")
        )
    )
