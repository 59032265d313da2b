"""The environment a child gets: a stage, a stage's container, a deployed instance.

Code under test must not read what the invoking shell happens to hold (cloud credentials, the
SDK's audit key, an approval). A child gets a small declared allowlist (how to find programs,
locale, time zone, proxies and CA bundles, package installers' settings, CI metadata that is
not a credential), plus what pipeline.yaml passes by name (``pass_env``, with globs), plus the
values pipeline.yaml sets itself. The SDK's own secrets never reach a child, even if passed.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping
from typing import BinaryIO

# What every child gets from the invoking environment, when set there.
DEFAULT_PASS = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "NO_COLOR",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "PIP_*",
    "UV_*",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "CI",
    "GITHUB_*",
    "GITLAB_*",
    "CI_*",
    "PIPELINES_*",
)
# Host paths and the host SDK's own settings mean nothing inside a container (its image has
# its own, and the runner sets what the SDK there needs).
HOST_ONLY = (
    *("PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "XDG_CACHE_HOME", "XDG_STATE_HOME"),
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT"),
    *("NODE_EXTRA_CA_CERTS", "PIPELINES_*"),
)
# CI metadata globs also match the runner's command files: GitHub applies what a step writes
# there to every later step (a variable such as LD_PRELOAD, a PATH entry, an output). Never a
# default; pass_env may name one.
COMMAND_FILES = frozenset(
    {"GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"}
)
# What the SDK itself reads as a secret or an authority: never a child's, whatever is passed.
SDK_SECRETS = frozenset({"PIPELINES_AUDIT_KEY", "PIPELINES_APPROVED_BY"})
# A name with one of these words holds a credential: a default glob never passes it, and a
# value passed by name is masked in every log the SDK writes.
SECRET_WORDS = (
    *("TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDS", "AUTH"),
    *("PRIVATE", "JWT", "COOKIE"),
)
SECRET_NAME = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)
MASK = "***"
# Shorter values are too common to mask without garbling logs (and too weak to be secrets).
MIN_MASKED = 4


def looks_secret(name: str) -> bool:
    """True when a variable's name says it holds a credential (GITHUB_TOKEN, DB_PASSWORD)."""
    return SECRET_NAME.search(name) is not None


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@functools.cache  # every stage of a run asks about the same names
def _default(name: str, container: bool) -> bool:
    """Whether a child gets ``name`` without pipeline.yaml asking for it."""
    if container and _matches(name, HOST_ONLY):
        return False
    return _matches(name, DEFAULT_PASS) and not looks_secret(name) and name not in COMMAND_FILES


def child_environment(
    environ: Mapping[str, str],
    *,
    pass_env: Iterable[str] = (),
    declared: Mapping[str, str] | None = None,
    container: bool = False,
) -> dict[str, str]:
    """The variables a child gets: the defaults and ``pass_env`` (names or globs) taken from
    ``environ``, then ``declared`` (what pipeline.yaml sets). A default glob never takes a
    secret-looking name (GITHUB_TOKEN); ``pass_env`` may, by name or glob. In a ``container``
    the defaults leave out the host's paths (PATH, HOME, CA bundles) and the host SDK's
    settings. The SDK's own secrets never go."""
    passed = tuple(pass_env)
    chosen: dict[str, str] = {}
    for name, value in environ.items():
        if name not in SDK_SECRETS and (_matches(name, passed) or _default(name, container)):
            chosen[name] = value
    for name, value in (declared or {}).items():
        if name not in SDK_SECRETS:
            chosen[name] = value
    return chosen


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values in ``env`` to mask in logs: those of secret-looking names, longest first
    (so a secret that contains another is masked whole)."""
    values = {
        value for name, value in env.items() if looks_secret(name) and len(value) >= MIN_MASKED
    }
    return tuple(sorted(values, key=len, reverse=True))


class Masker:
    """Replaces secret values in a stream of bytes, also when one is split across chunks.

    A match is only decided where every secret could be seen whole (one that merely begins
    like a longer one waits for more bytes), so the longest secret there is masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        encoded = sorted({secret.encode() for secret in secrets}, key=len, reverse=True)
        # Alternatives are tried in order: longest first.
        self.pattern = re.compile(b"|".join(re.escape(s) for s in encoded)) if encoded else None
        self.keep = max((len(secret) for secret in encoded), default=1) - 1
        self.held = b""

    def feed(self, chunk: bytes) -> bytes:
        """What can be written now; the tail that may begin a secret is held back."""
        return self._masked(self.held + chunk, self.keep)

    def flush(self) -> bytes:
        """The rest, at the end of the stream."""
        return self._masked(self.held, 0)

    def _masked(self, buffer: bytes, keep: int) -> bytes:
        out: list[bytes] = []
        position, limit = 0, len(buffer) - keep
        while self.pattern is not None:
            found = self.pattern.search(buffer, position)
            if found is None or found.start() >= limit:
                break
            out += [buffer[position : found.start()], MASK.encode()]
            position = found.end()
        cut = max(position, limit)
        out.append(buffer[position:cut])
        self.held = buffer[cut:]
        return b"".join(out)


def masked(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by the mask."""
    masker = Masker(secrets)
    return (masker.feed(text.encode()) + masker.flush()).decode(errors="replace")


class MaskedOutput:
    """A binary stream that writes to ``target`` with ``secrets`` masked (``finish`` writes
    what was held back at the end)."""

    def __init__(self, target: BinaryIO, secrets: Iterable[str]) -> None:
        self.target = target
        self.masker = Masker(secrets)

    def write(self, data: bytes) -> int:
        """Write ``data``, masked; the count is of the bytes given."""
        self.target.write(self.masker.feed(bytes(data)))
        return len(data)

    def flush(self) -> None:
        """Flush what could be written so far."""
        self.target.flush()

    def finish(self) -> None:
        """Write the held-back tail, masked."""
        self.target.write(self.masker.flush())
        self.target.flush()
