"""The abort request: `pipelines abort` (or SIGTERM to `pipelines deploy`) asks the controller
that holds the environment's lock to stop; the controller reads it between steps and while it
waits, and puts all traffic back on the stable release at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from pipelines import codec

ABORT = "abort-request.json"


class AbortRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who asked for an abort, why and when."""

    reason: str
    by: str = ""
    at: str = ""


def request_path(directory: Path) -> Path:
    """Where the environment's abort request is written."""
    return directory / ABORT


def request_abort(directory: Path, reason: str, by: str) -> AbortRequest:
    """Write the request (atomically: a reader sees all of it or nothing)."""
    request = AbortRequest(reason, by, datetime.now(UTC).isoformat(timespec="seconds"))
    directory.mkdir(parents=True, exist_ok=True)
    codec.write(request_path(directory), request)
    return request


def pending(directory: Path) -> AbortRequest | None:
    """The request waiting to be acted on, if any (a damaged one still asks for an abort)."""
    path = request_path(directory)
    if not path.exists():
        return None
    try:
        return codec.read(path, AbortRequest)
    except codec.DamagedFile as exc:
        return AbortRequest(f"unreadable abort request ({exc.message})")


def clear(directory: Path) -> None:
    """Remove the request once acted on."""
    request_path(directory).unlink(missing_ok=True)
