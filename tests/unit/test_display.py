"""Terminal output off a terminal: plain lines, never cut, and a heartbeat."""

from __future__ import annotations

import io
import time

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines.cli.display import LiveStages, add_row, show
from pipelines.runners.results import RunStatus


def plain_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=40, force_terminal=False), buffer


def test_tables_become_whole_plain_lines_off_a_terminal() -> None:
    out, buffer = plain_console()
    table = Table(title="flags (ci)")
    for column in ("flag", "value"):
        table.add_column(column)
    long_value = "x" * 120
    add_row(table, Text("ORCHESTRATION_ENABLED", style="bold"), long_value)
    add_row(table, "list[str]", "[/not-markup")
    show(out, table)
    lines = buffer.getvalue().splitlines()
    assert lines == [
        "flags (ci)",
        "flag | value",
        f"ORCHESTRATION_ENABLED | {long_value}",
        "list[str] | [/not-markup",
    ]


def test_a_heartbeat_names_the_stages_still_running() -> None:
    out, buffer = plain_console()
    with LiveStages(out, ["lint", "test"], heartbeat=0.05) as live:
        live.on_event("test", RunStatus.RUNNING)
        time.sleep(0.3)
        live.on_event("test", RunStatus.PASSED)
    text = buffer.getvalue()
    assert "still running: test (" in text
    assert text.index("still running") < text.index("test: passed")
