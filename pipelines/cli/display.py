"""Terminal rendering: the live stage table and the run's summary (rich); a gate decision's
table is the one view's (``report.summary.gate_table``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.errors import MarkupError
from rich.live import Live
from rich.table import Table
from rich.text import Span, Text

from pipelines import safe_text
from pipelines.runners.results import FINISHED, TRACKED, RunResult, RunStatus

STYLE = {
    RunStatus.PENDING: "dim",
    RunStatus.RUNNING: "cyan",
    RunStatus.PASSED: "green",
    RunStatus.FAILED: "bold red",
    RunStatus.SKIPPED: "yellow",
    RunStatus.CANCELLED: "yellow",
}


class SafeConsole(Console):
    """A console whose printed strings never carry a control sequence (an ANSI escape in a
    file name or a tool's message is shown escaped), whichever command prints them."""

    def print(self, *objects: Any, **options: Any) -> None:
        """Print like rich, with control characters of strings (and of styled texts, which
        carry a reason or a tool's words as often) shown escaped."""
        safe = [_safe(item) for item in objects]
        super().print(*safe, **options)

    def on_broken_pipe(self) -> None:
        """The reader went away (`| head`): quiet from now on, and the CLI's boundary gives the
        same exit code as for any other closed output (rich's own choice is a bare exit 1)."""
        self.quiet = True
        raise BrokenPipeError


def _safe(item: Any) -> Any:
    if isinstance(item, str):
        return safe_text.lines(item)
    if not isinstance(item, Text) or safe_text.lines(item.plain) == item.plain:
        return item
    # Escaped piece by piece between the styles' edges, so every piece keeps its styles.
    edges = sorted({edge for span in item.spans for edge in (span.start, span.end)})
    escaped = Text(style=item.style, end=item.end, justify=item.justify)
    for piece in item.divide(edge for edge in edges if 0 < edge < len(item.plain)):
        text = safe_text.lines(piece.plain)
        escaped.append_text(Text(text, spans=[Span(0, len(text), s.style) for s in piece.spans]))
    return escaped


def add_row(table: Table, *cells: str | Text) -> None:
    """Add a row whose plain strings are data (a tool's output, a user's name), never
    markup: ``list[str]`` stays ``list[str]``, and control characters (an ANSI escape, a
    carriage return, a newline that would fake a row) show escaped. Style a cell by passing
    a Text."""
    table.add_row(*(_cell(cell) for cell in cells))


def _cell(cell: str | Text) -> Text:
    if isinstance(cell, Text):
        return Text(safe_text.terminal(cell.plain), style=cell.style)
    return Text(safe_text.terminal(cell))


def title(text: str) -> Text:
    """A table title holding data (an environment from a file): never markup."""
    return Text(safe_text.terminal(text))


def show(out: Console, table: Table) -> None:
    """Print a table; off a terminal (CI logs) as plain lines that never cut a value.

    Whichever command built it, its title and cells are data: a string is never read as
    markup and its control characters show escaped."""
    if isinstance(table.title, str):
        table.title = title(table.title)
    for column in table.columns:
        # rich keeps a column's cells in this list; plain strings in it would be markup.
        column._cells = [
            _cell(value) if isinstance(value, str | Text) else value for value in column._cells
        ]
    if out.is_terminal:
        out.print(table)
        return
    if table.title:
        out.print(safe_text.terminal(_plain(table.title)), markup=False, highlight=False)
    columns = [[_plain(cell) for cell in column.cells] for column in table.columns]
    headers = [_plain(column.header) for column in table.columns]
    if table.show_header and any(headers):
        out.print(" | ".join(headers), markup=False, highlight=False, soft_wrap=True)
    for row in zip(*columns, strict=True):
        # Whoever built the table, a value never forges a line of the log.
        line = " | ".join(safe_text.terminal(value) for value in row)
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def _plain(value: Any) -> str:
    if isinstance(value, Text):
        return value.plain
    text = str(value)
    try:
        return Text.from_markup(text).plain
    except MarkupError:
        return text


HEARTBEAT_SECONDS = 30.0


def _is_tty(console: Console) -> bool:
    isatty = getattr(console.file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed file
        return False


class LiveStages:
    """One line per stage with its state and elapsed time; plain lines outside a terminal."""

    def __init__(
        self,
        console: Console,
        stages: list[str],
        heartbeat: float = HEARTBEAT_SECONDS,
        *,
        animate: bool = True,
    ) -> None:
        self.console = console
        # Redrawing needs a real terminal: FORCE_COLOR makes rich treat a pipe as one, and a
        # CI log would fill with redraws.
        self.animate = animate and console.is_terminal and _is_tty(console)
        self.state = dict.fromkeys(stages, RunStatus.PENDING)
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.live: Live | None = None
        self.heartbeat = heartbeat
        self.stopped = threading.Event()
        self.beater: threading.Thread | None = None

    def __enter__(self) -> LiveStages:
        if self.animate:
            self.live = Live(self, console=self.console, refresh_per_second=8, transient=True)
            self.live.__enter__()
        else:
            # Off a terminal nothing redraws: say what is still running, so a CI log never
            # goes silent while a long stage works.
            self.beater = threading.Thread(target=self._beat, daemon=True)
            self.beater.start()
        return self

    def _beat(self) -> None:
        while not self.stopped.wait(self.heartbeat):
            running = [n for n, s in self.state.items() if s is RunStatus.RUNNING]
            if running:
                listing = ", ".join(f"{n} ({self._elapsed(n)})" for n in running)
                line = safe_text.terminal(f"still running: {listing}")
                self.console.print(line, markup=False, highlight=False)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stopped.set()
        if self.beater is not None:
            self.beater.join()
        if self.live is not None:
            self.live.__exit__(kind, error, trace)

    def on_event(self, name: str, status: RunStatus) -> None:
        """Record a state change (called by the runner)."""
        now = time.monotonic()
        if status is RunStatus.RUNNING:
            self.started[name] = now
        elif status in FINISHED:
            self.ended[name] = now
        self.state[name] = status
        if self.live is None:
            elapsed = self._elapsed(name)
            suffix = f" ({elapsed})" if status in FINISHED and elapsed else ""
            line = safe_text.terminal(f"{name}: {status.value}{suffix}")
            self.console.print(line, markup=False, highlight=False)

    def _elapsed(self, name: str) -> str:
        if name not in self.started:
            return ""
        return f"{self.ended.get(name, time.monotonic()) - self.started[name]:.1f}s"

    def __rich__(self) -> Table:
        table = Table(show_header=False, box=None, pad_edge=False)
        for name, status in self.state.items():
            marker = "⠿" if status is RunStatus.RUNNING else "•"
            add_row(
                table,
                Text(marker, style=STYLE[status]),
                name,
                Text(status.value, style=STYLE[status]),
                self._elapsed(name),
            )
        return table


def run_summary(result: RunResult, notes: Mapping[str, str] | None = None) -> Table:
    """The final table of a run; ``notes`` are the stages' own one-line summaries."""
    # Said where it is read when the usual check did not apply, and what did instead (as
    # plain text: git's words may hold what rich would read as markup).
    said = f"source checked for changes: {safe_text.terminal(result.source_check)}"
    table = Table(
        title=f"pipeline run ({result.runner}, {result.duration:.1f}s)",
        caption=None if result.source_check == TRACKED else Text(said),
    )
    for column in ("stage", "status", "time", "details"):
        table.add_column(column)
    for stage in result.stages:
        note = (notes or {}).get(stage.name, "")
        detail = note or stage.reason
        if note and stage.reason and stage.status is RunStatus.FAILED:
            # Why the runner failed it (changed source files, a timeout) is not in the note
            # the stage wrote about itself ("1 command(s) passed"): both are shown.
            detail = f"{stage.reason}; {note}"
        add_row(
            table,
            stage.name,
            Text(stage.status.value, style=STYLE[stage.status]),
            f"{stage.duration:.1f}s",
            detail,
        )
    return table
