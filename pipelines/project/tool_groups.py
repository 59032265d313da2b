"""Test dependencies that projects declare in their tools' own tables instead of PEP 735
``[dependency-groups]``: Poetry groups, PDM, uv and Hatch development dependencies, and tox's
``deps``. Each becomes a plain list of requirement strings under a group name, so the project
environment installs what the project's own test run would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_CONSTRAINT = re.compile(r"^(\^|~(?!=))?\s*(\d+(?:\.\d+)*)(.*)$")


def tool_groups(tool: Mapping[str, Any], project: Path) -> dict[str, tuple[str, ...]]:
    """Group name -> requirements, from every tool table the project has (first one wins)."""
    found: dict[str, tuple[str, ...]] = {}
    for groups in (
        _poetry(tool.get("poetry")),
        _pep508_tables(_get(tool, "pdm", "dev-dependencies")),
        {"dev": tuple(_strings(_get(tool, "uv", "dev-dependencies")))},
        _hatch(_get(tool, "hatch", "envs")),
        _tox(project / "tox.ini"),
    ):
        for name, requirements in groups.items():
            if requirements and name not in found:
                found[name] = requirements
    return found


def _get(table: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        table = table.get(key, {}) if isinstance(table, Mapping) else {}
    return table


def _strings(items: Any) -> Iterable[str]:
    return [str(item) for item in items if isinstance(item, str)] if isinstance(items, list) else []


def _pep508_tables(groups: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(groups, Mapping):
        return {}
    return {str(name): tuple(_strings(items)) for name, items in groups.items()}


def _hatch(envs: Any) -> dict[str, tuple[str, ...]]:
    """Hatch environments: ``test``/``tests``, its ``hatch-test``, and ``default`` as dev."""
    if not isinstance(envs, Mapping):
        return {}
    names = {"test": "test", "tests": "tests", "hatch-test": "test", "default": "dev"}
    groups: dict[str, tuple[str, ...]] = {}
    for env, group in names.items():
        deps = [
            *_strings(_get(envs, env, "dependencies")),
            *_strings(_get(envs, env, "extra-dependencies")),
        ]
        if deps and group not in groups:
            groups[group] = tuple(deps)
    return groups


def _tox(path: Path) -> dict[str, tuple[str, ...]]:
    """tox's ``[testenv] deps`` (requirement lines; ``-r`` files and substitutions skipped)."""
    if not path.is_file():
        return {}
    import configparser  # noqa: PLC0415 - only a project with a tox.ini pays for it

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return {}
    if not parser.has_option("testenv", "deps"):
        return {}
    lines = (line.strip() for line in parser.get("testenv", "deps").splitlines())
    deps = [line for line in lines if line and not line.startswith(("-", "#", "{", "."))]
    return {"testenv": tuple(deps)}


def _poetry(poetry: Any) -> dict[str, tuple[str, ...]]:
    """Poetry's ``group.<name>.dependencies`` and the older ``dev-dependencies``."""
    if not isinstance(poetry, Mapping):
        return {}
    groups = (
        {
            str(name): _poetry_requirements(_get(body, "dependencies"))
            for name, body in _get(poetry, "group").items()
        }
        if isinstance(_get(poetry, "group"), Mapping)
        else {}
    )
    if "dev-dependencies" in poetry and "dev" not in groups:
        groups["dev"] = _poetry_requirements(poetry["dev-dependencies"])
    return groups


def _poetry_requirements(dependencies: Any) -> tuple[str, ...]:
    if not isinstance(dependencies, Mapping):
        return ()
    found = []
    for package, spec in dependencies.items():
        if package == "python":
            continue
        name = str(package)
        if isinstance(spec, Mapping):
            if not {"path", "git", "url", "file"}.isdisjoint(spec):
                continue  # a local or VCS dependency: only the project's own tooling knows it
            extras = spec.get("extras")
            spec_text = str(spec.get("version", "*"))
            if isinstance(extras, list) and extras:
                name = f"{name}[{','.join(extras)}]"
        elif isinstance(spec, list):
            spec_text = "*"  # several constraints by Python version: take the newest that fits
        else:
            spec_text = str(spec)
        found.append(name + poetry_specifier(spec_text))
    return tuple(found)


def poetry_specifier(spec: str) -> str:
    """A Poetry version constraint as a PEP 440 specifier (``^1.2`` -> ``>=1.2,<2.0``)."""
    spec = spec.strip()
    if spec in ("", "*") or "||" in spec or "|" in spec:
        return ""
    parts = [_one(part.strip()) for part in spec.split(",") if part.strip()]
    return ",".join(part for part in parts if part)


def _one(constraint: str) -> str:
    match = _CONSTRAINT.match(constraint)
    if match is None:
        return constraint  # already PEP 440: >=1.2, <3, ==1.2.*, !=1.5, ~=1.4
    operator, version, rest = match.groups()
    if rest.strip():
        return constraint
    numbers = [int(n) for n in version.split(".")]
    if operator == "^":
        index = next((i for i, n in enumerate(numbers) if n), len(numbers) - 1)
    elif operator == "~":
        index = min(1, len(numbers) - 1) if len(numbers) > 1 else 0
    else:
        return f"=={version}"  # a bare version in Poetry means exactly that version
    upper = numbers[: index + 1]
    upper[index] += 1
    return f">={version},<{'.'.join(map(str, upper))}"
