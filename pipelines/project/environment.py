"""The project's own virtualenv, separate from the SDK's: what runs the project's code.

It is built from what the project declares (a PEP 735 dependency group, the test extras, its
requirement files, the project itself as an editable install) or from the install commands
pipeline.yaml names, plus the pytest plugins the test stage reports with. It is cached under a
hash of everything it was built from, so an unchanged project pays nothing on the next run.
``uv`` builds it when it is on PATH (much faster), ``pip`` otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import msgspec

from pipelines import atomic
from pipelines.config.pipeline import PipelineConfig
from pipelines.digest import sha256
from pipelines.errors import ConfigError, ToolError
from pipelines.layout import cache_root
from pipelines.process import command_line, run_streaming, tool_path
from pipelines.project.commands import typing_requirements
from pipelines.project.facts import (
    DEFINING_FILES,
    DEV_EXTRA,
    TEST_EXTRAS,
    TEST_GROUPS,
    ProjectFacts,
)

PYTHON = "{env}/bin/python"  # how the plan shows the environment's interpreter
RUNNING_PYTHON = "{python}"  # how the plan shows the interpreter the environment is built with
# Set by container runners: the host checkout's identity and name (every project is /src
# inside), and "1" where projects of unknown identity share one cache (never prune there).
PROJECT_ID = "PIPELINES_PROJECT_ID"
PROJECT_NAME = "PIPELINES_PROJECT_NAME"
# The one project path that identity is for: another project built in the same container (a
# test suite's temporary projects) is never taken for it, nor its environments pruned.
PROJECT_PATH = "PIPELINES_PROJECT_PATH"
SHARED_CACHE = "PIPELINES_SHARED_CACHE"
READY = ".pipelines-ready.json"
# What the test stage needs on top of the project's own test dependencies.
TEST_PLUGINS = ("pytest", "pytest-cov", "pytest-reportlog")


class InstallPlan(msgspec.Struct, frozen=True):
    """What goes into the project's environment, decided from config and facts (pure)."""

    groups: tuple[str, ...] = ()
    group_requirements: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    requirement_files: tuple[str, ...] = ()
    install_project: bool = False
    commands: tuple[tuple[str, ...], ...] = ()
    plugins: tuple[str, ...] = ()
    python: str | None = None

    def install_args(self) -> list[str]:
        """The arguments of one ``pip install`` that builds the declared environment."""
        args: list[str] = []
        if self.install_project:
            target = "." + (f"[{','.join(self.extras)}]" if self.extras else "")
            args += ["-e", target]
        for path in self.requirement_files:
            args += ["-r", path]
        named = {_name(r) for r in self.group_requirements}
        plugins = [p for p in self.plugins if _name(p) not in named]
        return [*args, *self.group_requirements, *plugins]

    def commands_shown(self, installer: str) -> list[list[str]]:
        """The commands, as the plan shows them (``{env}`` is the environment's directory)."""
        # Without a choice, the interpreter running `pipelines` where the stage runs (the
        # host's or a container's), which a plan made elsewhere cannot name.
        python = self.python or RUNNING_PYTHON
        if installer == "uv":
            shown = [["uv", "venv", "--seed", "--python", python, "{env}"]]
        else:
            shown = [[python, "-m", "venv", "{env}"]]
        for command in self.commands:
            argv = list(command)
            shown.append([PYTHON, *argv[1:]] if argv[0] in ("python", "python3") else argv)
        if self.install_args():
            shown.append([*_installer_argv(installer, PYTHON), *self.install_args()])
        return shown


def _name(requirement: str) -> str:
    """The normalised project name of a requirement string (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else requirement


def install_plan(config: PipelineConfig, facts: ProjectFacts) -> InstallPlan:
    """Decide what the project's environment holds: pipeline.yaml first, then the project."""
    settings = config.project_env
    plugins: tuple[str, ...] = ()
    if config.stage("test").enabled:
        plugins = TEST_PLUGINS + (("pytest-rerunfailures",) if config.test.reruns else ())
    if config.stage("lint").enabled:
        plugins += typing_requirements(config, facts)
    if settings.install:
        return InstallPlan(commands=settings.install, plugins=plugins, python=settings.python)
    declared = facts.groups or {}
    if settings.groups is not None:
        groups = settings.groups
    else:
        groups = next(((g,) for g in TEST_GROUPS if g in declared), ())
    missing = [g for g in groups if g not in declared]
    if missing:
        raise ConfigError(
            f"{config.source}: project_env.groups: {', '.join(missing)} is not a dependency "
            "group of pyproject.toml",
            hint="declared groups: " + (", ".join(declared) or "none"),
        )
    if settings.extras is not None:
        extras = settings.extras
    else:
        extras = tuple(e for e in TEST_EXTRAS if e in facts.extras)
        if not extras and not groups and DEV_EXTRA in facts.extras:
            extras = (DEV_EXTRA,)
    install_project = (
        settings.install_project if settings.install_project is not None else facts.installable
    )
    return InstallPlan(
        groups=groups,
        group_requirements=tuple(r for g in groups for r in declared[g]),
        extras=extras if install_project else (),
        requirement_files=(
            settings.requirements if settings.requirements is not None else facts.requirement_files
        ),
        install_project=install_project,
        plugins=plugins,
        python=settings.python,
    )


def installer(path: str) -> str:
    """``uv`` when it is on PATH, else ``pip``."""
    import shutil  # noqa: PLC0415 - loaded when used: not by a stage's start

    return "uv" if shutil.which("uv", path=path) else "pip"


class ProjectEnv(msgspec.Struct, frozen=True):
    """A ready environment: where it is and what it was built from."""

    path: Path

    @property
    def python(self) -> Path:
        """Its interpreter."""
        return self.path / "bin" / "python"

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` with this environment activated (its bin/ first on PATH)."""
        path = os.pathsep.join([str(self.path / "bin"), tool_path(base.get("PATH", os.defpath))])
        return {**base, "VIRTUAL_ENV": str(self.path), "PATH": path}


def _location(project: Path, plan: InstallPlan, environ: Mapping[str, str]) -> Path:
    project = project.resolve()
    digest = sha256()
    spec = {
        "plan": [list(plan.install_args()), [list(c) for c in plan.commands], plan.python],
        "interpreter": [sys.version, sys.executable],
        "installer": installer(tool_path(environ.get("PATH", os.defpath))),
    }
    digest.update(json.dumps(spec, sort_keys=True).encode())
    for name in (*DEFINING_FILES, *plan.requirement_files):
        path = project / name
        digest.update(name.encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
    # Which checkout this is: its path, or (in a container, where every project is /src) the
    # host checkout's identity that the runner passes on.
    given = environ.get(PROJECT_PATH)
    ours = given is not None and Path(given).resolve() == project.resolve()
    where = (ours and environ.get(PROJECT_ID)) or sha256(str(project).encode()).hexdigest()[:8]
    name = (ours and environ.get(PROJECT_NAME)) or project.name
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40] or "project"
    return cache_root(environ) / "envs" / f"{slug}-{where}-{digest.hexdigest()[:16]}"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One builder per environment, across processes (stages, parallel runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f"{path.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(
    project: Path,
    plan: InstallPlan,
    environ: Mapping[str, str],
    output: BinaryIO | None = None,
) -> tuple[ProjectEnv, bool]:
    """The project's environment, built now unless a complete one exists; True when built.
    The build's log goes to ``output`` (default: stdout, the stage log)."""
    path = _location(project, plan, environ)
    with locked(path):
        if (path / READY).is_file():
            return ProjectEnv(path), False
        # A directory without the ready marker is a build that died half-way.
        import shutil  # noqa: PLC0415 - loaded when used: not by a stage's start

        shutil.rmtree(path, ignore_errors=True)
        try:
            _build(project, plan, path, environ, output or sys.stdout.buffer)
        except BaseException:
            import shutil  # noqa: PLC0415 - loaded when used: not by a stage's start

            shutil.rmtree(path, ignore_errors=True)
            raise
        atomic.write_json(path / READY, {"install": plan.install_args()})
    if environ.get(SHARED_CACHE) != "1":
        _remove_older(path)
    return ProjectEnv(path), True


def _build(
    project: Path, plan: InstallPlan, path: Path, environ: Mapping[str, str], output: BinaryIO
) -> None:
    env = {**environ, "PATH": tool_path(environ.get("PATH", os.defpath))}
    # uv must never download an interpreter of its own: the environment uses the machine's.
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.update(version_without_git(project, environ, output))
    tool = installer(env["PATH"])
    base = plan.python or sys.executable
    if tool == "uv":
        _step(["uv", "venv", "--seed", "--python", base, str(path)], project, env, output)
    else:
        _step([base, "-m", "venv", str(path)], project, env, output)
    created = ProjectEnv(path)
    active = created.environ(env)
    for command in plan.commands:
        argv = list(command)
        if argv[0] in ("python", "python3"):
            argv[0] = str(created.python)
        _step(argv, project, active, output)
    if not plan.install_args():
        return
    install = _installer_argv(tool, str(created.python))
    try:
        _step([*install, *plan.install_args()], project, active, output)
    except DiscoveryConflict:
        # setuptools found the pipeline's own reports/ and artifacts/ beside the package of a
        # flat layout. Install from a view of the project without them: tests still import
        # the real tree (the project directory is first on sys.path when pytest runs there).
        view = _view_without_outputs(project, path / "project-view")
        _say(output, f"retrying from {view}, without reports/ and artifacts/")
        args = [str(view) + arg[1:] if arg.startswith(".") else arg for arg in plan.install_args()]
        _step([*install, *args], project, active, output)


# The directories a run writes into a project, which setuptools' flat-layout discovery would
# count as packages.
RUN_OUTPUTS = ("reports", "artifacts")


class DiscoveryConflict(ToolError):
    """setuptools counted more than one top-level package in a flat layout."""


def _view_without_outputs(project: Path, view: Path) -> Path:
    """A directory of links to the project's top-level entries, but for what runs write."""
    view.mkdir(parents=True, exist_ok=True)
    for entry in project.iterdir():
        if entry.name in RUN_OUTPUTS or entry.name.startswith((".git", ".pipelines")):
            continue
        (view / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return view


# Build backends that read the project's version from git.
_SCM_BACKENDS = ("setuptools_scm", "setuptools-scm", "hatch-vcs", "hatch_vcs", "pdm-backend")
PRETEND_VERSION = "0.0.0"


def version_without_git(
    project: Path, environ: Mapping[str, str], output: BinaryIO
) -> dict[str, str]:
    """A version for a project that takes it from git, when there is no git metadata (a copy
    without .git, a container upload): the install would fail with "unable to detect
    version". A version the caller already set wins."""
    pyproject = project / "pyproject.toml"
    if (project / ".git").exists() or not pyproject.is_file():
        return {}
    text = pyproject.read_text(encoding="utf-8", errors="replace")
    if not any(backend in text for backend in _SCM_BACKENDS):
        return {}
    _say(output, f"no git metadata: building with version {PRETEND_VERSION}")
    return {
        name: environ.get(name, PRETEND_VERSION)
        for name in ("SETUPTOOLS_SCM_PRETEND_VERSION", "PDM_BUILD_SCM_VERSION")
    }


def _installer_argv(tool: str, python: str) -> list[str]:
    if tool == "uv":
        return ["uv", "pip", "install", "--python", python]
    return [python, "-m", "pip", "install"]


def _say(output: BinaryIO, line: str) -> None:
    output.write(line.encode("utf-8", "replace") + b"\n")
    output.flush()


def _step(argv: list[str], project: Path, env: Mapping[str, str], output: BinaryIO) -> None:
    _say(output, command_line(argv))
    # ``env`` is built from the caller's environment: nothing more of ours is added to it.
    done = run_streaming(argv, cwd=project, env=env, output=output, inherit=False)
    if done.returncode != 0:
        hint = (
            "the whole output is in the install stage's log; fix the project's "
            "dependencies or set project_env in pipeline.yaml"
        )
        message = f"building the project environment failed: {explain(done.stdout)}"
        if "Multiple top-level packages discovered" in done.stdout:
            raise DiscoveryConflict(
                message,
                hint="name your packages in pyproject.toml ([tool.setuptools] packages = [...])",
            )
        raise ToolError(message, hint=hint)


# A build backend's own output, which uv quotes after "[stderr]" under its generic cause
# ("Call to `setuptools.build_meta.build_editable` failed"): the real error is in there.
_BACKEND_ERROR = re.compile(r"^(?:error: .+|[\w.]+(?:Error|Exception): .+)$")


def explain(output: str) -> str:
    """The line of an installer's output that says what went wrong."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if "[stderr]" in lines or "[stdout]" in lines:
        quoted = lines[min(i for i, line in enumerate(lines) if line in ("[stderr]", "[stdout]")) :]
        errors = [line for line in quoted if _BACKEND_ERROR.match(line)]
        plain = [line for line in errors if line.startswith("error: ")]
        if plain or errors:
            # setuptools says "error: ..."; a traceback's cause is its last exception line.
            return (plain[0] if plain else errors[-1])[:300]
    # uv says "cause:" off a terminal and draws an arrow on one; pip says "ERROR:".
    markers = ("cause:", "\u2570\u2500\u25b6", "ERROR:")
    for line in lines:
        for marker in markers:
            if line.startswith(marker):
                return line.removeprefix(marker).strip()[:300]
    for line in reversed(lines):
        if line.lower().startswith(("error", "\u00d7")):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def _remove_older(current: Path) -> None:
    """Environments of the same project built from older files are never used again."""
    prefix = current.name.rsplit("-", 1)[0] + "-"
    for sibling in current.parent.glob(prefix + "*"):
        if sibling != current and sibling.is_dir() and not sibling.name.endswith(".lock"):
            import shutil  # noqa: PLC0415 - loaded when used: not by a stage's start

            shutil.rmtree(sibling, ignore_errors=True)
            (sibling.parent / f"{sibling.name}.lock").unlink(missing_ok=True)
