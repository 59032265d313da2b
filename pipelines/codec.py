"""Reading and writing the SDK's files as their declared types (msgspec Structs): one encoder
and one decoder, so writer and reader can never disagree, and a file that is not what its type
declares is an error naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import msgspec

from pipelines import atomic
from pipelines.errors import PipelineError

T = TypeVar("T")


class DamagedFile(PipelineError):
    """A file the SDK wrote exists but is not what its type declares (torn, edited, or written
    by a version of this tool that is not understood): never guessed at."""


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    # Our own value types (a duration is a float, a name a str) are written as their base.
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    raise NotImplementedError(type(value))


def dec_hook(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError(kind)


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)


def encode(value: object) -> bytes:
    """One value as compact JSON."""
    return _ENCODER.encode(value)


# What to do about a damaged file, unless its reader knows better.
RESTORE = "restore the file from a copy, or move it aside (it is not used to decide)"


def decode(data: bytes | str, kind: type[T], where: str, *, hint: str = RESTORE) -> T:
    """``data`` as ``kind``; DamagedFile naming ``where`` and the key when it is not one."""
    try:
        return msgspec.json.decode(data, type=kind, dec_hook=dec_hook)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise DamagedFile(f"{where}: cannot be read as {_name(kind)}: {exc}", hint=hint) from None
    except RecursionError:  # nested deeper than the decoder goes: no file of ours is
        raise DamagedFile(f"{where}: cannot be read as {_name(kind)}: nested too deeply") from None


def convert(data: object, kind: type[T], where: str, *, hint: str = RESTORE) -> T:
    """Plain JSON data (already parsed) as ``kind``; DamagedFile naming ``where`` and the key
    when it is not one."""
    try:
        return msgspec.convert(data, type=kind, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        raise DamagedFile(f"{where}: cannot be read as {_name(kind)}: {exc}", hint=hint) from None


def encode_indented(value: object) -> str:
    """One value as indented JSON text (for people and ``--json`` output)."""
    return msgspec.json.format(encode(value), indent=2).decode("utf-8")


def to_builtins(value: object) -> Any:
    """A declared value as plain JSON data (for --json output)."""
    return msgspec.json.decode(encode(value))


def write(path: Path, value: object) -> Path:
    """Write ``value`` as indented JSON, atomically; return the path."""
    atomic.write_bytes(path, msgspec.json.format(encode(value)) + b"\n")
    return path


def read(path: Path, kind: type[T], *, hint: str = RESTORE) -> T:
    """The file ``path`` as ``kind`` (DamagedFile naming it when it cannot be read)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DamagedFile(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return decode(data, kind, str(path), hint=hint)


def _name(kind: object) -> str:
    return getattr(kind, "__name__", None) or str(kind)
