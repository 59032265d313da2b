"""Releases on disk: each deploy snapshots the service's files into ``releases/<id>/`` of
the environment's state, so a rollback never rebuilds and each release runs only from its
own snapshot."""

from __future__ import annotations

import shutil
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from pipelines.deploy.environment import DeployEnv, state_root
from pipelines.deploy.target import Release
from pipelines.errors import UsageError
from pipelines.source_tree import TreeState


def _sdk_places(denv: DeployEnv) -> set[Path]:
    """The SDK's own state, reports and artifacts, wherever they are configured: never part
    of a release, even where they lie inside the project."""
    return set(_named_places(denv))


def _named_places(denv: DeployEnv) -> dict[Path, str]:
    named = {
        denv.layout.artifacts: "artifacts",
        denv.layout.reports: "reports",
        state_root(denv.environ): "state",
    }
    return {path.resolve(): what for path, what in named.items()}


def _special(path: Path) -> bool:
    """A FIFO, socket or device (what a stage may leave in the tree): nothing a release
    ships, and copying one would hang or fail."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return True  # gone meanwhile
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


def _refuse(denv: DeployEnv, entry: str, why: str, hint: str) -> UsageError:
    return UsageError(f"{denv.config.source}: service.files lists {entry!r}, {why}", hint=hint)


def _check_entry(denv: DeployEnv, entry: str, places: dict[Path, str]) -> Path:
    """The project path of one service.files entry, once it is known to be the project's
    own: reached without a link (a link on the way can name a parent, the project itself
    or anything on the host), and neither the SDK's state, reports or artifacts nor
    inside them (a snapshot of the state holds the snapshot being made: it never ends)."""
    origin = denv.project / entry
    walked = denv.project
    for part in PurePosixPath(entry).parts[:-1]:
        walked = walked / part
        if walked.is_symlink():
            raise _refuse(
                denv,
                entry,
                f"with a symbolic link on the way ({walked.relative_to(denv.project)})",
                "list the files and directories themselves",
            )
    if origin.is_symlink():
        raise _refuse(
            denv, entry, "which is a symbolic link", "list the files and directories themselves"
        )
    if origin.exists() and _special(origin):
        raise _refuse(denv, entry, "which is not a file or directory", "list files and directories")
    if not origin.exists():
        raise _refuse(
            denv,
            entry,
            f"which {denv.project} does not have",
            "list files and directories of the project",
        )
    real, home = origin.resolve(), denv.project.resolve()
    for place, what in places.items():
        # A place that holds the whole project (PIPELINES_STATE_DIR=~) holds no entry of it.
        if real == place or (real.is_relative_to(place) and place.is_relative_to(home)):
            raise _refuse(
                denv,
                entry,
                f"which is the SDK's own {what} ({place})",
                "list the service's own files; the SDK's places are never part of a release",
            )
    return origin


def _ignoring(patterns: Iterable[str], places: set[Path]) -> Callable[[str, list[str]], set[str]]:
    """shutil.copytree's ignore: the service's exclude patterns and the SDK's places."""
    by_pattern = shutil.ignore_patterns(*patterns)

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(by_pattern(directory, names))
        here = Path(directory).resolve()
        return skipped | {name for name in names if here / name in places or _special(here / name)}

    return ignore


def new_release(
    denv: DeployEnv,
    version: str | None,
    commit: str,
    env: Mapping[str, str] | None = None,
    *,
    source: TreeState | None = None,
) -> Release:
    """Snapshot the project's files into ``releases/<id>/`` (kept for rollbacks);
    ``source`` is the tree it was made from (its digest and whether it was dirty)."""
    # Every entry checked before anything is made. Links are copied as links: the checkout
    # is the code under test, and a link it holds must never make the host copy its target.
    places = _named_places(denv)
    origins = {entry: _check_entry(denv, entry, places) for entry in denv.config.service.files}
    release_id = denv.journal.state().next_release_id()
    while (denv.directory / "releases" / release_id).exists():  # a crash left one
        release_id = f"r{int(release_id[1:]) + 1}"
    target = denv.directory / "releases" / release_id
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    service = denv.config.service
    ignore = _ignoring(service.exclude, _sdk_places(denv))
    staging.mkdir(parents=True)
    for entry, origin in origins.items():
        if origin.is_dir():
            shutil.copytree(
                origin, staging / entry, symlinks=True, ignore=ignore, dirs_exist_ok=True
            )
        else:
            (staging / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, staging / entry, follow_symlinks=False)
    staging.rename(target)  # a release is complete or absent
    return Release(
        release_id,
        version or project_version(denv.project) or commit[:12],
        commit,
        target,
        dict(env or {}),
        datetime.now(UTC).isoformat(timespec="seconds"),
        source.tree if source else "",
        source.dirty if source else None,
    )


def surplus_releases(denv: DeployEnv, keep: int) -> list[Path]:
    """Release snapshots beyond the newest ``keep``, oldest first; never the stable release,
    the one a rollback goes back to, or those of the last deploy. Read under the journal's
    lock: a deploy that runs meanwhile could be about to need one."""
    home = denv.directory / "releases"
    if not home.is_dir():
        return []
    state = denv.journal.state()
    protected = set(state.passed[-2:])
    if state.stable is not None:
        protected.add(state.stable.id)
    if state.last is not None:
        protected.add(state.last.release.id)
        if state.last.previous is not None:
            protected.add(state.last.previous.id)
    found = sorted(
        (
            entry
            for entry in home.iterdir()
            if entry.is_dir() and not entry.is_symlink() and entry.name[1:].isdigit()
        ),
        key=lambda entry: int(entry.name[1:]),
    )
    return [entry for entry in found[: max(0, len(found) - keep)] if entry.name not in protected]


def prune_releases(denv: DeployEnv, keep: int) -> list[str]:
    """Remove :func:`surplus_releases`; returns the ids removed."""
    removed = []
    for entry in surplus_releases(denv, keep):
        if not entry.is_symlink():  # put in its place since it was listed: left alone
            shutil.rmtree(entry)
            removed.append(entry.name)
    return removed


def project_version(project: Path) -> str | None:
    """``[project] version`` of pyproject.toml, when it is static."""
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    version = data.get("project", {}).get("version")
    return str(version) if isinstance(version, str) else None
