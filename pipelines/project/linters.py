"""The linters and formatters a project uses, at the versions it pins, found where it
declares them: its pre-commit hooks, its lint/dev dependency groups, extras, requirement files
and tox environments, and the ``[tool.X]`` sections that name a tool.

Pure reading of the project's files: the lint stage installs and runs what this finds, and the
plan shows it with where each version came from.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from pipelines.errors import ConfigError

# Linter name -> its PyPI package (ruff-format is ruff's formatter check).
PACKAGES = {
    "ruff": "ruff",
    "ruff-format": "ruff",
    "black": "black",
    "isort": "isort",
    "flake8": "flake8",
    "mypy": "mypy",
    "pyupgrade": "pyupgrade",
}
# What the SDK installs for a tool a project names without a version: the SDK's own pins
# (constraints.txt; tests/unit/test_project_linters.py keeps the two equal).
SDK_PINS = {"black": "26.10.1", "isort": "9.0.2", "flake8": "7.5.0", "pyupgrade": "3.22.0"}
# The well-known pre-commit hook repositories (owner/name, lower case) and their hook ids.
HOOK_REPOS: Mapping[str, Mapping[str, str]] = {
    "astral-sh/ruff-pre-commit": {
        "ruff": "ruff",
        "ruff-check": "ruff",
        "ruff-format": "ruff-format",
    },
    "charliermarsh/ruff-pre-commit": {"ruff": "ruff", "ruff-format": "ruff-format"},
    "psf/black": {"black": "black"},
    "psf/black-pre-commit-mirror": {"black": "black"},
    "pycqa/flake8": {"flake8": "flake8"},
    "pycqa/isort": {"isort": "isort"},
    "pre-commit/mirrors-mypy": {"mypy": "mypy"},
    "asottile/pyupgrade": {"pyupgrade": "pyupgrade"},
}
# Arguments a hook passes by default when the project gives none of its own.
HOOK_DEFAULT_ARGS = {"mypy": ("--ignore-missing-imports", "--scoped-packages")}
LINT_GROUPS = ("lint", "linting", "style", "dev", "typing", "types", "mypy", "test", "tests")
LINT_REQUIREMENT_FILES = (
    "requirements-dev.txt",
    "requirements_dev.txt",
    "dev-requirements.txt",
    "requirements-lint.txt",
    "requirements/lint.txt",
    "requirements/dev.txt",
    "requirements/style.txt",
    "requirements/typing.txt",
)
TYPING_GROUPS = ("typing", "types", "type", "mypy")
_REQUIREMENT = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:==\s*([^\s;,]+))?"
)
_MAX_PRE_COMMIT = 1_000_000


class DeclaredTool(msgspec.Struct, frozen=True):
    """One linter as the project runs it: version, where that came from, and its arguments."""

    name: str
    version: str | None  # None: the SDK's own version
    source: str
    args: tuple[str, ...] = ()
    files: str | None = None  # pre-commit's include and exclude patterns (regular expressions)
    exclude: str | None = None
    extra: tuple[str, ...] = ()  # additional dependencies of the tool's environment
    pre_commit: bool = False  # run the pre-commit way: on the matching files, in isolation

    @property
    def package(self) -> str:
        """Its PyPI package."""
        return PACKAGES[self.name]

    def describe(self) -> str:
        """``ruff 0.4.4 from .pre-commit-config.yaml (rev v0.4.4)`` for the plan."""
        extra = f" with {', '.join(self.extra)}" if self.extra else ""
        return f"{self.name} {self.version or '?'} from {self.source}{extra}"


@functools.cache
def sdk_version(package: str) -> str | None:
    """The version of ``package`` the SDK pins: installed beside it, else its own table."""
    # The installed distribution's directory name carries its version: reading it costs a
    # directory listing, where importlib.metadata (or even sysconfig's paths) costs more
    # than the rest of a stage's start.
    wanted = re.sub(r"[-_.]+", "_", package).lower()
    for directory in dict.fromkeys(p for p in sys.path if p.endswith("-packages")):
        try:
            names = os.listdir(directory)  # noqa: PTH208 - names only, not a Path each
        except OSError:
            continue
        for entry in names:
            name, _, version = entry.removesuffix(".dist-info").partition("-")
            if (
                entry.endswith(".dist-info")
                and version
                and re.sub(r"[-_.]+", "_", name).lower() == wanted
            ):
                return version
    return SDK_PINS.get(package)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file of the project as data ({} when it is missing); bad TOML is a config error."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint="fix the file's syntax") from exc


def discover(project: Path) -> tuple[DeclaredTool, ...]:
    """Every linter the project declares, first declaration of a version winning."""
    pyproject = read_toml(project / "pyproject.toml")
    tool = pyproject.get("tool", {}) if isinstance(pyproject.get("tool"), dict) else {}
    found: dict[str, DeclaredTool] = {}
    for declared in (
        *_pre_commit(project),
        *_tox(project),
        *_requirement_lists(project, pyproject),
        *_sections(project, tool),
    ):
        known = found.get(declared.name)
        if known is None:
            found[declared.name] = declared
        elif known.version is None and declared.version is not None:
            found[declared.name] = msgspec.structs.replace(
                known, version=declared.version, source=declared.source
            )
    if "ruff-format" in found and "black" in found and not found["ruff-format"].pre_commit:
        del found["ruff-format"]  # ruff's settings alone do not make it the formatter
    return tuple(
        t if t.version else msgspec.structs.replace(t, version=sdk_version(t.package))
        for t in found.values()
    )


def typing_requirements(project: Path) -> tuple[str, ...]:
    """The project's typing dependencies (a typing group or extra) that mypy needs."""
    pyproject = read_toml(project / "pyproject.toml")
    found: list[str] = []
    for table in (
        pyproject.get("dependency-groups"),
        _get(pyproject, "project", "optional-dependencies"),
    ):
        if isinstance(table, dict):
            for name in TYPING_GROUPS:
                found += [r for r in table.get(name, ()) if isinstance(r, str)]
    return tuple(dict.fromkeys(found))


def _get(table: Any, *keys: str) -> Any:
    for key in keys:
        table = table.get(key, {}) if isinstance(table, dict) else {}
    return table


def _strings(items: Any) -> tuple[str, ...]:
    return (
        tuple(str(i) for i in items if isinstance(i, str | int | float))
        if isinstance(items, list)
        else ()
    )


def _pre_commit(project: Path) -> list[DeclaredTool]:
    """The hooks of the well-known repositories, at their ``rev``."""
    path = project / ".pre-commit-config.yaml"
    if not path.is_file():
        return []
    if path.stat().st_size > _MAX_PRE_COMMIT:
        raise ConfigError(
            f"{path}: larger than {_MAX_PRE_COMMIT} bytes", hint="is it the right file?"
        )
    import yaml  # noqa: PLC0415 - only a project with pre-commit hooks needs a parser here

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}", hint="fix the file's syntax") from exc
    if not isinstance(data, dict) or not isinstance(data.get("repos"), list):
        return []
    top_files, top_exclude = data.get("files"), data.get("exclude")
    found = []
    for repo in data["repos"]:
        if not isinstance(repo, dict):
            continue
        url = str(repo.get("repo", "")).lower().removesuffix("/").removesuffix(".git")
        hooks = next((ids for name, ids in HOOK_REPOS.items() if url.endswith("/" + name)), None)
        if hooks is None:
            continue
        rev = str(repo.get("rev", "")).strip()
        version = rev.removeprefix("v") if re.fullmatch(r"v?\d+(\.\d+)+[\w.+-]*", rev) else None
        for hook in repo.get("hooks") or ():
            if not isinstance(hook, dict) or hook.get("id") not in hooks:
                continue
            name = hooks[str(hook["id"])]
            args = _strings(hook["args"]) if "args" in hook else HOOK_DEFAULT_ARGS.get(name, ())
            found.append(
                DeclaredTool(
                    name,
                    version,
                    f".pre-commit-config.yaml (rev {rev})"
                    if version
                    else f".pre-commit-config.yaml (rev {rev} is no version: the SDK's)",
                    args=args,
                    files=_pattern(hook.get("files"), top_files),
                    exclude=_pattern(hook.get("exclude"), top_exclude),
                    extra=_strings(hook.get("additional_dependencies")),
                    pre_commit=True,
                )
            )
    return found


def _pattern(own: Any, top: Any) -> str | None:
    """A hook's pattern; the top-level one applies as well (both must hold)."""
    parts = [str(p) for p in (top, own) if isinstance(p, str) and p]
    if not parts:
        return None
    return "".join(f"(?=.*?(?:{p}))" for p in parts) if len(parts) > 1 else parts[0]


def _tox(project: Path) -> list[DeclaredTool]:
    """A tox environment whose commands run a linter: its deps pin it, its command's
    arguments say what it checks."""
    path = project / "tox.ini"
    if not path.is_file():
        return []
    import configparser  # noqa: PLC0415 - only a project with a tox.ini pays for it

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid INI file: {exc}") from exc
    found = []
    for section in parser.sections():
        if not section.startswith("testenv"):
            continue
        deps = _lines(parser.get(section, "deps", fallback=""))
        pins = dict(_pins(deps))
        for line in _lines(parser.get(section, "commands", fallback="")):
            try:
                argv = [a for a in shlex.split(line) if not a.startswith("{")]
            except ValueError:
                continue
            if argv[:2] == ["python", "-m"] or argv[:2] == ["python3", "-m"]:
                argv = argv[2:]
            if not argv or argv[0] not in PACKAGES or argv[0] == "ruff-format":
                continue
            name, args = argv[0], tuple(argv[1:])
            if name == "ruff":
                if args[:1] == ("format",):
                    name, args = "ruff-format", args[1:]
                elif args[:1] == ("check",):
                    args = args[1:]
            extra = tuple(d for d in deps if _name(d) != PACKAGES[name])
            found.append(
                DeclaredTool(
                    name,
                    pins.get(PACKAGES[name]),
                    f"tox.ini [{section}]",
                    args=args,
                    extra=extra if name in ("mypy", "flake8") else (),
                )
            )
    return found


def _lines(text: str) -> list[str]:
    lines = (line.split(" #")[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-", "{"))]


def _name(requirement: str) -> str:
    match = _REQUIREMENT.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else requirement


def _pins(requirements: Iterable[str]) -> Iterable[tuple[str, str | None]]:
    """(normalised name, exact version or None) of each requirement."""
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match:
            yield _name(requirement), match.group(2)


def _requirement_lists(project: Path, pyproject: dict[str, Any]) -> list[DeclaredTool]:
    """Linters named in dependency groups, extras and requirement files."""
    lists: list[tuple[str, tuple[str, ...]]] = []
    for key, table in (
        ("dependency-groups", pyproject.get("dependency-groups")),
        ("project.optional-dependencies", _get(pyproject, "project", "optional-dependencies")),
    ):
        if isinstance(table, dict):
            for group in LINT_GROUPS:
                if group in table:
                    lists.append((f"pyproject.toml {key}.{group}", _strings(table[group])))
    for name in LINT_REQUIREMENT_FILES:
        path = project / name
        if path.is_file():
            lines = _lines(path.read_text(encoding="utf-8", errors="replace"))
            lists.append((name, tuple(lines)))
    found = []
    for source, requirements in lists:
        pins = list(_pins(requirements))
        for package, version in pins:
            names = [n for n, p in PACKAGES.items() if p == package and n != "ruff-format"]
            for name in names:
                plugins = tuple(r for r in requirements if _name(r).startswith("flake8-"))
                found.append(
                    DeclaredTool(name, version, source, extra=plugins if name == "flake8" else ())
                )
    return found


def _sections(project: Path, tool: dict[str, Any]) -> list[DeclaredTool]:
    """``[tool.X]`` sections and the tools' own files name a tool, not its version."""
    setup_cfg, tox = _ini_sections(project / "setup.cfg"), _ini_sections(project / "tox.ini")
    named = {
        "ruff": "ruff" in tool or any((project / n).is_file() for n in ("ruff.toml", ".ruff.toml")),
        "black": "black" in tool,
        "isort": "isort" in tool or "isort" in setup_cfg or (project / ".isort.cfg").is_file(),
        "flake8": (project / ".flake8").is_file() or "flake8" in setup_cfg or "flake8" in tox,
        "mypy": "mypy" in tool
        or "mypy" in setup_cfg
        or any((project / n).is_file() for n in ("mypy.ini", ".mypy.ini")),
    }
    found = [DeclaredTool(name, None, _where(name)) for name, yes in named.items() if yes]
    if named["ruff"]:
        found.append(DeclaredTool("ruff-format", None, _where("ruff")))
    return found


def _ini_sections(path: Path) -> frozenset[str]:
    """The sections of an INI file; none when it is missing or unreadable (read and reported
    elsewhere: here sections only name tools)."""
    if not path.is_file():
        return frozenset()
    import configparser  # noqa: PLC0415 - only a project with the file pays for it

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return frozenset()
    return frozenset(parser.sections())


def _where(name: str) -> str:
    return f"its {name} settings (version: the SDK's)"
