"""``pipelines stage NAME [--env ENV] [-C DIR] [--config FILE] [--reports PATH]
[--artifacts PATH]`` read without argparse.

A stage process starts once per stage and run, and argparse (with what it loads: gettext,
shutil and the compression modules behind it) is a twentieth of its start. The command lines
runners write are these few options; anything else (a help request, an abbreviation, an
unknown option, a missing value) is left to the whole parser, which parses or explains it
the same way as for every command. tests/unit/test_stage_argv.py keeps the two in agreement.
"""

from __future__ import annotations

from types import SimpleNamespace

# Each option's destination; the defaults are the parser's (cli/shared_args.py).
OPTIONS = {
    "-C": "project",
    "--project": "project",
    "--config": "config",
    "--reports": "reports",
    "--artifacts": "artifacts",
    "--env": "env",
}
DEFAULTS = {"project": ".", "config": None, "reports": None, "artifacts": None, "env": "ci"}


def read(words: list[str]) -> SimpleNamespace | None:
    """The parsed stage command line, or None for the whole parser to handle."""
    if words[:1] != ["stage"]:
        return None
    values: dict[str, str | None] = dict(DEFAULTS)
    name: str | None = None
    rest = iter(words[1:])
    for word in rest:
        option, equals, value = word.partition("=")
        if option in OPTIONS and (option == word or (equals and option.startswith("--"))):
            if not equals:
                value = next(rest, "")
            if not value or value.startswith("-"):
                return None  # what argparse would refuse or read otherwise: it says which
            values[OPTIONS[option]] = value
        elif word.startswith("-") or name is not None or not word:
            return None
        else:
            name = word
    if name is None:
        return None
    return SimpleNamespace(command="stage", name=name, **values)
