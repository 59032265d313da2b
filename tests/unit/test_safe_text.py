"""User-controlled text (test names, versions, reasons, actors) cannot add Markdown structure
to a step summary or compliance pack, nor control sequences to a terminal; test names are
capped wherever they are shown."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines.cli.display import SafeConsole, add_row, run_summary, show
from pipelines.gate.rules import GateDecision, decision_of
from pipelines.report import compliance
from pipelines.report.history import DeployEntry
from pipelines.report.summary import DeployLine, Summary, markdown, tables
from pipelines.runners.results import RunResult, RunStatus, StageRun
from pipelines.safe_text import MAX_TEST_NAME, capped, terminal
from tests.unit.test_github import decision

HOSTILE = [
    "x\n## Injected heading",
    "x | injected | cells |",
    "[click](https://evil.example/x)",
    "![pixel](https://evil.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "see https://evil.example and www.evil.example",
    "**bold** _em_ `code` ~~gone~~ $math$ @someone &amp;",
    "\x1b[2J\x1b[31mred\rover",
]


def hostile_decision(name: str) -> GateDecision:
    data: dict[str, Any] = decision(failing=1)
    data["env"] = name
    data["tests"]["failing"][0]["name"] = name
    return decision_of(data)


def rendered(text: str) -> str:
    """What a Markdown renderer could read as structure: everything not escaped."""
    return re.sub(r"\\.", "", text)


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_summary_keeps_values_as_text(value: str) -> None:
    view = Summary(
        "t",
        hostile_decision(value),
        deploys=(DeployLine("r1", "deploy", value, "promoted", value),),
    )
    text = markdown(view)
    plain = rendered(text)
    for structure in ("](", "<img", "https://", "www.", "**", "`", "~~", "$", "@", "&amp;"):
        assert structure not in plain, (structure, text)
    assert not any(line.startswith("## ") for line in text.splitlines())
    deploy_row = next(line for line in text.splitlines() if line.startswith("| r1 "))
    assert rendered(deploy_row).count("|") == 6  # the row's own five cells, no more
    assert "\x1b" not in text and "\r" not in text


def test_the_compliance_pack_markdown_escapes_reasons_and_actors(tmp_path: Path) -> None:
    entry = DeployEntry(
        "20261201T000000000Z-abc",
        tmp_path,
        "deploy",
        "production",
        "1.0 | [x](https://evil.example)",
        "abc",
        "promoted",
        "reason\n# heading",
        datetime(2026, 12, 1, tzinfo=UTC),
        {},
        {},
        None,
    )
    record = compliance.ChangeRecord(
        entry, "approved by <b>mallory</b> (ci)", "open", "1 | 2", "![x](y)", "intact"
    )
    text = compliance.markdown([record], "production", "p")
    plain = rendered(text)
    assert "](" not in plain and "<b>" not in plain
    assert not any(line.startswith("# heading") for line in text.splitlines())


def test_terminal_tables_show_control_characters_escaped() -> None:
    buffer = io.StringIO()
    out = Console(file=buffer, width=200, force_terminal=True)
    result = RunResult(
        "local", (StageRun("test", RunStatus.FAILED, reason="\x1b[2Jgone\rfake\nrow"),), 1.0
    )
    show(out, run_summary(result))
    for table in tables(Summary("t", hostile_decision("\x1b]0;title\x07env"))):
        show(out, table)
    text = buffer.getvalue()
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\r" not in text
    assert "\\x1b[2Jgone\\rfake\\nrow" in text
    plain = io.StringIO()
    table = Table(title="t [bold]x[/]")
    table.add_column("c")
    table.add_row("[red]not markup[/] \x1b[31m")  # a table built without add_row
    show(Console(file=plain, force_terminal=False), table)
    assert plain.getvalue().splitlines() == ["t [bold]x[/]", "c", "[red]not markup[/] \\x1b[31m"]


def test_test_names_are_capped_where_they_are_shown() -> None:
    long_name = "test_" + "x" * 1000
    data: dict[str, Any] = decision(failing=1)
    data["tests"]["failing"][0]["name"] = long_name
    text = markdown(Summary("t", decision_of(data)))
    assert "x" * MAX_TEST_NAME not in text
    assert len(capped(long_name)) == MAX_TEST_NAME
    assert capped("short") == "short"
    buffer = io.StringIO()
    table = Table()
    table.add_column("name")
    add_row(table, terminal("a\u202eb"))
    show(Console(file=buffer, force_terminal=False), table)
    assert "\\u202e" in buffer.getvalue()


def test_whatever_a_command_prints_carries_no_control_sequence() -> None:
    buffer = io.StringIO()
    out = SafeConsole(file=buffer, force_terminal=True, width=200)
    out.print(
        "reports/\x1b]0;owned\x07x.xml: not collected\nnext line", markup=False, highlight=False
    )
    assert buffer.getvalue() == "reports/\\x1b]0;owned\\x07x.xml: not collected\nnext line\n"


def test_a_styled_line_with_a_reason_from_outside_carries_no_control_sequence() -> None:
    # `pipelines deploy` prints "<deploy>: <status> <reason>" as styled text; the reason may
    # quote an instance's own output.
    buffer = io.StringIO()
    out = SafeConsole(file=buffer, force_terminal=True, color_system="standard", width=200)
    reason = "instance r2-0 exited before it was healthy: \x1b[2J\x1b]0;owned\x1b\\ fine"
    out.print(Text.assemble("r2-staging: ", Text("failed", style="red"), f" {reason}"))
    shown = buffer.getvalue()
    assert "\x1b[2J" not in shown and "\x1b]" not in shown
    assert "\\x1b[2J\\x1b]0;owned\\x1b\\ fine" in shown
    assert "\x1b[31mfailed\x1b[0m" in shown  # our own style stays
