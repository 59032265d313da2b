"""Under GitHub Actions, every command's output runs between ``::stop-commands::`` and its
random token, and only the SDK's own annotations are printed after it."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, redirect_stdout
from typing import Any, TextIO, cast

from pipelines.report import workflow_commands as wc

# Annotations a command produced, printed once its output is over (after the guard).
_pending: list[str] = []


def emit(lines: list[str]) -> None:
    """Print these annotations after the command's output, where GitHub reads them."""
    _pending.extend(lines)


class _JsonOut:
    """Standard output whose JSON text holds no ``##[`` (GitHub reads one anywhere in a line
    as a workflow command, and ``--json`` output runs outside the guard)."""

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        return self.target.write(wc.neutralise_json(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


@contextmanager
def guarded(environ: Mapping[str, str], *, machine_readable: bool = False) -> Iterator[None]:
    """Under GitHub Actions, no line printed inside is a workflow command; the annotations
    emitted inside are printed after it. Elsewhere nothing changes, and none are printed.

    ``machine_readable`` output (``--json``) stays exactly JSON, with no guard lines: no line
    of it can start with ``::`` (every string is quoted, newlines escaped).
    """
    if not wc.in_github_actions(environ):
        try:
            yield
        finally:
            _pending.clear()
        return
    token = wc.stop_token()
    if machine_readable:
        guard: AbstractContextManager[object] = redirect_stdout(cast(TextIO, _JsonOut(sys.stdout)))
    else:
        guard = nullcontext()
        print(wc.stop_commands(token), flush=True)
    try:
        with guard:
            yield
    finally:
        if not machine_readable:
            print(wc.resume_commands(token), flush=True)
        for line in _pending:
            print(line)
        _pending.clear()
