"""Text from files, tools and users, made safe to show: one place for every escaping rule.

A test name, a version, a reason or an approver is data. In a terminal its control characters
(an ANSI escape that clears the screen or forges a line, a carriage return that overwrites
one, a newline that adds a table row) are shown escaped (``\\x1b``, ``\\r``, ``\\n``). In
Markdown (the GitHub step summary, the compliance pack) a value is one line and every character
Markdown could read as syntax there is backslash-escaped, so no value can add a heading, a
link, an image, HTML, emphasis, a mention or a table cell: it renders exactly as written.
Test names are capped at ``MAX_TEST_NAME`` characters wherever they are shown.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MAX_TEST_NAME = 200
ELLIPSIS = "…"
# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional controls that
# reorder what a reader sees ("trojan source").
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What Markdown (GitHub-flavoured: tables, autolinks, math, emoji, mentions) could read as
# syntax inside a line: backslash-escaped, these render as themselves. An underscore inside a
# word is never emphasis, so ``pass_rate`` stays readable; URLs lose the ``://`` or ``www.``
# that makes them links; a value is one line, so only its start can begin a heading or list
# (a quote's > there is harmless text inside a table cell or after our own words).
MARKDOWN_SYNTAX = r"[\\`*\[\]<|~$@&!]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:(?=//)|(?<=www)\.|^[#=+-]"


@functools.cache
def _markdown_syntax() -> re.Pattern[str]:
    # Compiled on first use: a stage process never writes Markdown.
    return re.compile(MARKDOWN_SYNTAX)


def _escaped_control(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in NAMED:
        return NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# The same, but a line break stays one: for whole messages the SDK composes of several lines.
CONTROL_IN_LINES = re.compile(CONTROL.pattern.replace("\x00-\x1f", "\x00-\x09\x0b-\x1f"))


def lines(value: Any) -> str:
    """``value`` for a terminal, its line breaks kept and every other control character
    shown as an escape."""
    return CONTROL_IN_LINES.sub(_escaped_control, str(value))


def terminal(value: Any) -> str:
    """``value`` as one line for a terminal: control characters shown as escapes."""
    return CONTROL.sub(_escaped_control, str(value))


def markdown(value: Any) -> str:
    """``value`` as literal Markdown text (inline, one line, safe in a table cell)."""
    return _markdown_syntax().sub(lambda m: "\\" + m.group(0), terminal(value))


def capped(name: str, limit: int = MAX_TEST_NAME) -> str:
    """A test name no longer than ``limit`` characters (the end replaced by an ellipsis)."""
    return name if len(name) <= limit else name[: limit - len(ELLIPSIS)] + ELLIPSIS
