"""The stage command line read without argparse means what the whole parser makes of it, and
anything out of the ordinary is left to that parser."""

from __future__ import annotations

import pytest

from pipelines.cli import stage_argv
from pipelines.cli.parser import build_parser

ORDINARY = [
    ["stage", "install"],
    ["stage", "test", "--env", "staging"],
    ["stage", "gate", "--env=production", "-C", "some/dir", "--config", "other.yaml"],
    ["stage", "--env", "ci", "lint", "--reports", "/r", "--artifacts", "/a"],
    ["stage", "custom-one", "--project=x", "--env", "a", "--env", "b"],
]
UNUSUAL = [
    ["stage"],
    ["stage", "-h"],
    ["stage", "install", "--help"],
    ["stage", "install", "--en", "ci"],
    ["stage", "install", "--env"],
    ["stage", "install", "--env", "--config"],
    ["stage", "install", "extra"],
    ["stage", "install", "-Cdir"],
    ["stage", "install", "-C=dir"],
    ["stage", "install", "--"],
    ["stage", "install", "--json"],
    ["run", "install"],
]


@pytest.mark.parametrize("words", ORDINARY)
def test_an_ordinary_stage_command_line_reads_as_the_parser_reads_it(words: list[str]) -> None:
    quick = stage_argv.read(words)
    assert quick is not None
    assert vars(quick) == vars(build_parser(words).parse_args(words))


@pytest.mark.parametrize("words", UNUSUAL)
def test_anything_else_is_left_to_the_whole_parser(words: list[str]) -> None:
    assert stage_argv.read(words) is None
