"""Small ``Container -> Container`` helpers the module's functions compose, and the argv
wrappers every exec goes through (timeouts, exit codes the engine would otherwise reject)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import dagger
from dagger import dag

WORKDIR = "/src"
# DefaultPath does not honour .gitignore: these mirror it (and what no stage should read),
# so output left by a local run never changes a stage's inputs. Top-level only for `reports`
# and `artifacts`: a package may hold a directory of that name.
IGNORED = [
    ".git",
    ".venv",
    "venv",
    "**/.venv",
    "**/venv",
    "**/__pycache__",
    "**/*.py[cod]",
    "**/*.egg-info",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/.coverage",
    "**/.coverage.*",
    "**/node_modules",
    "**/.benchmarks",
    "reports",
    "artifacts",
    "examples/*/reports",
    "examples/*/artifacts",
    "examples/*/tests/flaky-attempts",
    "**/build",
    "**/dist",
    "ci/sdk",
]
# Named caches shared by every stage container: downloads survive between runs.
CACHES = {
    "/root/.cache/pip": "portable-pipelines-pip",
    "/root/.cache/pip-audit": "portable-pipelines-pip-audit",
    # The projects' own environments (built by the install stage) and uv's downloads.
    "/cache": "portable-pipelines-cache",
}
# Every stage container: the caches above, and reports where this module collects them (a
# pipeline.yaml `reports:` setting is for the host, not for containers).
BASE_ENV = {
    "PIPELINES_CACHE_DIR": "/cache",
    "UV_CACHE_DIR": "/cache/uv",
    "PIPELINES_REPORTS_DIR": "/src/reports",
    # Every caller's project is /src here: environments are kept apart by their contents, and
    # never pruned as another checkout's older ones.
    "PIPELINES_SHARED_CACHE": "1",
}
NONCE = "PIPELINES_NONCE"
DAY = "PIPELINES_DAY"
COMMIT = "PIPELINES_COMMIT"  # what the SDK records as the commit under test
# After SIGTERM, a stage has this long to write its reports before SIGKILL.
KILL_AFTER_SECONDS = 30
# Where the wrapped command's real exit code is written (outside what is exported).
EXIT_CODE_FILE = "/tmp/pipelines-exit-code"  # noqa: S108 - inside the exec's own container
# `sh -c SCRIPT sh ARGV...`: the argv stays a list (never pasted into the script). The real
# exit code goes to a file and the exec itself succeeds: the engine fails an exec that ends
# with 128-191 (killed, out of memory), and its output with it.
RECORD_EXIT = f'"$@"; code=$?; printf "%s\\n" "$code" > {EXIT_CODE_FILE}'
# Then what a deploy left in the state volume is copied where the export reads it, in the
# same exec (the container's stdout is its last exec's).
COPY_ARTIFACTS = (
    'mkdir -p "$PIPELINES_ARTIFACTS_DIR" && cp -a "$PIPELINES_ARTIFACTS_DIR/." /src/artifacts/'
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def with_caches(container: dagger.Container) -> dagger.Container:
    """Mount the named tool caches."""
    for path, name in CACHES.items():
        container = container.with_mounted_cache(path, dag.cache_volume(name))
    return container.with_(with_env(BASE_ENV))


def with_env(env: Mapping[str, str]) -> Callable[[dagger.Container], dagger.Container]:
    """Set a stage's environment variables (sorted, so the cache key is stable)."""

    def apply(container: dagger.Container) -> dagger.Container:
        for name in sorted(env):
            container = container.with_env_variable(name, env[name])
        return container

    return apply


def with_commit(commit: str | None) -> Callable[[dagger.Container], dagger.Container]:
    """The commit under test, as the SDK reads it (``.git`` is not uploaded). It is an input
    of every exec; the uploaded source changes with the commit anyway."""

    def apply(container: dagger.Container) -> dagger.Container:
        return container.with_env_variable(COMMIT, commit) if commit else container

    return apply


def with_secrets(
    names: Sequence[str], secrets: Sequence[dagger.Secret]
) -> Callable[[dagger.Container], dagger.Container]:
    """Each secret as the environment variable of its name; never a plain variable."""

    def apply(container: dagger.Container) -> dagger.Container:
        for name, secret in zip(names, secrets, strict=True):
            container = container.with_secret_variable(name, secret)
        return container

    return apply


def check_secret_names(names: Sequence[str], count: int) -> None:
    """Refuse names that do not pair one to one with the secrets, or are no variable names."""
    if len(names) != count:
        raise ValueError(
            f"{len(names)} --secret-names for {count} --secrets: give one name per secret, "
            "in the same order (e.g. --secret-names=TOKEN --secrets=env:TOKEN)"
        )
    for name in names:
        if not ENV_NAME.fullmatch(name) or name.startswith("PIPELINES_"):
            raise ValueError(
                f"--secret-names {name!r}: not an environment variable name of yours "
                "(letters, digits and _, not starting with a digit nor PIPELINES_)"
            )


def fresh(freshness: str) -> Callable[[dagger.Container], dagger.Container]:
    """Make a live answer live: ``cache="never"`` re-runs only the function, and the engine
    serves a ``with_exec`` from its layer cache unless an input changes, so a stage whose
    answer changes without its inputs gets one that does (a nonce per call, or the day)."""

    def apply(container: dagger.Container) -> dagger.Container:
        if freshness == "never":
            return container.with_env_variable(NONCE, uuid.uuid4().hex)
        if freshness == "daily":
            return container.with_env_variable(DAY, datetime.now(UTC).date().isoformat())
        return container

    return apply


def timed(argv: Sequence[str], timeout: float | None) -> list[str]:
    """``argv`` bounded by the stage's timeout: SIGTERM first (the stage writes what it has),
    SIGKILL after a grace period. A timed-out command ends with 124, which the exec accepts."""
    if timeout is None:
        return list(argv)
    return [
        "timeout",
        "--signal=TERM",
        f"--kill-after={KILL_AFTER_SECONDS}s",
        f"{timeout:g}s",
        *argv,
    ]


def recording_exit(argv: Sequence[str], *, then: str = "") -> list[str]:
    """``argv`` run so that the exec always succeeds and its real exit code is kept; ``then``
    (a fixed script of ours) runs after it, whatever its outcome."""
    # A failed `then` is said, never the command's outcome (which is already recorded).
    after = f"; {{ {then}; }} || echo 'pipelines: the artifacts were not copied out' >&2"
    script = RECORD_EXIT + after if then else RECORD_EXIT
    return ["sh", "-c", script, "sh", *argv]


def parse_exit_code(text: str) -> int:
    """The code ``recording_exit`` wrote; unreadable is an internal error (fail closed)."""
    value = text.strip()
    return int(value) if value.isdigit() else 3
