"""Workflow commands: GitHub reads any output line that starts with ``::`` as one
(``::error``, ``::set-output``, ``::stop-commands::``, ...), after leading blanks, and any
line that holds ``##[`` anywhere as one in the older form (``##[add-mask]...``).

Test names, failure messages, finding text and gate reasons come from the code under test,
so between ``::stop-commands::TOKEN`` and ``::TOKEN::`` (a random token nobody else can
know) every line of our output is inert. Kept free of heavy imports: every command uses it.
"""

from __future__ import annotations

from collections.abc import Mapping


def in_github_actions(environ: Mapping[str, str]) -> bool:
    """True inside a GitHub Actions job."""
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A command's message, escaped as GitHub documents (%, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: also ``:`` and ``,``, which end a property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def stop_token() -> str:
    """A fresh token for ``::stop-commands::``; the output cannot guess it."""
    import secrets  # noqa: PLC0415 - only under GitHub Actions; every stage imports this

    return secrets.token_hex(16)


def stop_commands(token: str) -> str:
    """The line after which GitHub reads no workflow command until ``resume_commands``."""
    return f"::stop-commands::{token}"


def resume_commands(token: str) -> str:
    """The line that ends ``stop_commands(token)``."""
    return f"::{token}::"


LEGACY = "##["


def neutralise(text: str) -> str:
    """``text`` with no line that GitHub could read as a workflow command (for output that
    may be read outside ``stop_commands``): such a line gets a ``> `` in front, and the
    older form's ``##[`` is broken apart wherever it is."""
    return "\n".join(
        "> " + line if line.lstrip().startswith("::") else line
        for line in text.replace(LEGACY, "# #[").split("\n")
    )


def neutralise_json(text: str) -> str:
    """JSON text that means the same but holds no ``##[`` (only a string can hold one, and
    there ``\\u005b`` is the same bracket)."""
    return text.replace(LEGACY, "##\\u005b")
