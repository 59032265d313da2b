"""The package's import graph, read from the source (``ast``), and the rules it must keep.

Run it with ``python -m tests.import_graph`` (it prints every broken rule and exits 1), or
through ``tests/unit/test_import_graph.py``. Every import counts, at module level or inside a
function; imports under ``if TYPE_CHECKING:`` never run and are left out.

The layering is data: ``FLOORS`` gives each part of the package its floor, and a module may
import only from its own floor or lower ones. Parts are module-name prefixes (the longest one
that matches wins), so when modules move into sub-packages the floors follow in one line each.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "pipelines"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
# The Dagger module knows only the plan's JSON: importing the SDK would invalidate every one
# of its cache entries on each SDK edit.
DAGGER_MODULE = ROOT.parent / "ci" / "src"

# Floor of each part of the package (a module-name prefix). Higher floors build on lower ones.
FLOORS: dict[str, int] = {
    # Ground: errors, paths, atomic files, processes, small shared vocabularies.
    "pipelines": 0,
    "pipelines.errors": 0,
    "pipelines.atomic": 0,
    "pipelines.layout": 0,
    "pipelines.process": 0,
    "pipelines.severity": 0,
    "pipelines.config.envvars": 0,
    "pipelines.stats": 0,
    "pipelines.config.yaml_source": 0,
    "pipelines.codec": 0,  # every file the SDK writes and reads back, as its declared type
    "pipelines.readers": 1,  # the readers (JUnit, coverage, SARIF, report logs)
    "pipelines.config.schema": 1,
    "pipelines.config.retention": 2,
    "pipelines.config.health": 2,
    "pipelines.config.kubernetes": 2,
    "pipelines.config.deploy": 2,
    "pipelines.config.pipeline": 3,
    "pipelines.config.cache": 3,
    "pipelines.flags": 4,
    "pipelines.project.facts": 4,
    "pipelines.project.linters": 4,
    "pipelines.project.tool_groups": 4,
    "pipelines.project.tool_env": 4,
    "pipelines.project.commands": 4,
    "pipelines.project.environment": 4,
    "pipelines.gate.rules": 4,
    "pipelines.gate.perf": 4,
    "pipelines.audit": 4,
    "pipelines.source_tree": 4,  # the commit and tree a decision judged and a deploy ships
    "pipelines.plan": 5,
    "pipelines.config.json_schemas": 5,  # the schemas of pipeline.yaml, flags.yaml and the plan
    "pipelines.runners": 6,
    "pipelines.runlock": 6,
    "pipelines.toolchain": 6,
    "pipelines.artifacts": 6,
    "pipelines.monitoring.metrics": 6,
    "pipelines.monitoring.stack": 6,
    "pipelines.health": 6,
    "pipelines.stages": 7,
    "pipelines.report": 8,
    "pipelines.report.github": 8,  # a writer: GitHub annotations and step summaries
    "pipelines.report.workflow_commands": 1,  # escaping for workflow commands: no imports
    # The deploy files' declared types and the pure core they describe (steps, the analysis'
    # measurements, releases): the report readers decode them without the deploy machinery.
    "pipelines.deploy.steps": 5,
    "pipelines.deploy.strategies": 5,
    "pipelines.deploy.analysis": 5,
    "pipelines.deploy.target": 5,
    "pipelines.deploy.records": 5,
    "pipelines.deploy": 9,
    "pipelines.scaffold": 9,
    "pipelines.operations": 10,
    "pipelines.cli": 11,
    "pipelines.__main__": 11,
}

# The readers: depending on nothing else in the package (they parse hostile files alone),
# but for the error every boundary knows (ReportError, so a bad report is exit 1 with its
# path) and the one severity vocabulary that SARIF levels are mapped onto.
READERS = "pipelines.readers"
NOT_READERS = ("pipelines.report.github",)
READERS_MAY_USE = ("pipelines.errors", "pipelines.severity")
# Pure code: no subprocess, no network. Each named module, or every module of a part.
PURE = (
    "pipelines.plan",
    "pipelines.gate.rules",
    "pipelines.deploy.strategies",
    "pipelines.deploy.steps",
    "pipelines.deploy.analysis",
)
IO_MODULES = ("subprocess", "socket", "urllib", "http", "httpx", "requests")
# Nothing outside the command line imports it.
CLI = "pipelines.cli"
CLI_USERS = ("pipelines.cli", "pipelines.__main__")

# Imports that close a cycle, each deliberate: made inside a function, so neither module needs
# the other to be loaded first. (importer, imported) -> why.
LAZY_CYCLES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One import statement's target inside the package."""

    importer: str
    imported: str
    line: int
    in_function: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    """``pipelines/deploy/steps.py`` -> ``pipelines.deploy.steps`` (a package is its __init__)."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by name."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement with whether it runs inside a function; skips TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node.test):
            for child in node.orelse:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), in_function)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        yield from _statements(node, nested)


def _targets(node: ast.stmt, importer: str, known: Mapping[str, Path]) -> Iterator[str]:
    """The modules an import statement names (``from pkg import mod`` names ``pkg.mod``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:  # relative: from the importer's package
        package = importer.split(".")
        package = package[: len(package) - node.level + (1 if _is_package(importer, known) else 0)]
        base = ".".join([*package, *([base] if base else [])])
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in known else base


def _is_package(name: str, known: Mapping[str, Path]) -> bool:
    return known[name].name == "__init__.py"


def imports(known: Mapping[str, Path] | None = None) -> list[Import]:
    """Every import of a module of the package, by every module of the package."""
    known = modules() if known is None else known
    found: list[Import] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _statements(tree):
            for target in dict.fromkeys(_targets(node, name, known)):
                found.append(Import(name, target, node.lineno, in_function))
    return found


def floor(module: str) -> int:
    """The floor of a module: that of the longest part of FLOORS it belongs to."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in FLOORS:
            return FLOORS[prefix]
    raise KeyError(f"{module}: no floor in FLOORS; give its part one")


def _within(module: str, part: str) -> bool:
    return module == part or module.startswith(part + ".")


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def problems(found: list[Import] | None = None) -> list[str]:
    """Every broken rule, one line each, naming the importing module and line."""
    found = imports() if found is None else found
    inside = [i for i in found if _within(i.imported, PACKAGE) and i.imported != i.importer]
    broken: list[str] = []
    for item in inside:
        where = f"{item.importer}:{item.line}"
        if _within(item.imported, CLI) and not any(_within(item.importer, u) for u in CLI_USERS):
            broken.append(f"{where}: imports {item.imported} (nothing imports the command line)")
        reader = _within(item.importer, READERS) and item.importer not in NOT_READERS
        allowed = (READERS, *READERS_MAY_USE)
        if reader and not any(_within(item.imported, part) for part in allowed):
            broken.append(f"{where}: a reader imports {item.imported} (readers stand alone)")
        if floor(item.imported) > floor(item.importer):
            broken.append(
                f"{where}: imports {item.imported}, a higher floor "
                f"({floor(item.imported)} > {floor(item.importer)})"
            )
    for item in found:
        pure = any(_within(item.importer, part) for part in PURE)
        if pure and any(_within(item.imported, io) for io in IO_MODULES):
            broken.append(f"{item.importer}:{item.line}: pure code imports {item.imported}")
    for edge, why in LAZY_CYCLES.items():
        lazy = [i for i in inside if (i.importer, i.imported) == edge]
        if not lazy or not all(i.in_function for i in lazy):
            broken.append(f"{edge[0]} -> {edge[1]}: listed as a lazy import ({why}), but is not")
    edges = [
        (i.importer, i.imported) for i in inside if (i.importer, i.imported) not in LAZY_CYCLES
    ]
    broken += ["import cycle: " + " <-> ".join(component) for component in cycles(edges)]
    return broken


def dagger_module_problems(root: Path = DAGGER_MODULE) -> list[str]:
    """Every import of the SDK by the Dagger module (there must be none)."""
    broken = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if _within(name, PACKAGE):
                    where = path.relative_to(root.parent.parent)
                    broken.append(f"{where}:{node.lineno}: the Dagger module imports {name}")
    return broken


def main() -> int:
    """Print every broken rule; exit 1 when there is one."""
    broken = problems() + dagger_module_problems()
    for line in broken:
        print(line)
    print(f"{len(modules())} modules, {len(broken)} problem(s)")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
