"""No text from the code under test reaches GitHub's log as a workflow command, in either of
the forms GitHub reads: ``::name::`` at the start of a line (after blanks), or ``##[name]``
anywhere in one."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from pipelines.cli.guard import emit, guarded
from pipelines.report.workflow_commands import neutralise


@pytest.mark.parametrize(
    "line",
    [
        "##[add-mask]hide-the-real-error",
        "test_x failed: ##[set-output name=approved;]yes",
        "###[error]forged",
        "   ::stop-commands::forged",
        "\t::error::forged",
    ],
)
def test_no_line_outside_the_guard_can_be_a_workflow_command(line: str) -> None:
    shown = neutralise(line)
    assert "##[" not in shown
    assert not shown.lstrip().startswith("::")


def test_json_output_under_github_actions_carries_no_legacy_workflow_command() -> None:
    out = io.StringIO()
    value = {"reason": "##[set-output name=approved;]yes"}
    with redirect_stdout(out), guarded({"GITHUB_ACTIONS": "true"}, machine_readable=True):
        print(json.dumps(value))
        emit(["::error::the SDK's own"])
    text = out.getvalue()
    assert "##[" not in text
    body, annotation = text.strip().split("\n")
    assert json.loads(body) == value  # the same JSON value, only spelled differently
    assert annotation == "::error::the SDK's own"
