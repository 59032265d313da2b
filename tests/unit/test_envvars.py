"""${NAME} in configuration: one policy everywhere, an unset variable is named."""

from __future__ import annotations

import pytest

from pipelines.config.envvars import expand_env
from pipelines.config.health import CheckStatus, HealthCheck, HealthSettings
from pipelines.errors import UsageError
from pipelines.health.run import run_health
from pipelines.severity import Severity


def test_set_variables_are_filled_and_unset_ones_named() -> None:
    assert expand_env("Bearer ${TOKEN}", {"TOKEN": "t"}, "x") == "Bearer t"
    with pytest.raises(UsageError, match="x: set A_TOKEN, B_TOKEN in the environment"):
        expand_env("${B_TOKEN} ${A_TOKEN}", {"A_TOKEN": ""}, "x")


def test_a_health_check_with_an_unset_token_says_so_instead_of_sending_it_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("API_TOKEN", raising=False)
    check = HealthCheck.of(
        "api",
        "http",
        {"url": "http://127.0.0.1:9/", "headers": {"Authorization": "Bearer ${API_TOKEN}"}},
    )
    (result,) = run_health("ci", HealthSettings((check,))).results
    assert result.status is CheckStatus.FAILED
    assert "set API_TOKEN in the environment" in result.detail


def test_severities_have_one_order_and_one_spelling() -> None:
    assert [s.value for s in Severity][:2] == ["critical", "high"]  # declared worst first
    assert Severity.parse("HIGH") is Severity.HIGH
    assert Severity.parse("weird") is Severity.INFO
    assert Severity.parse("weird", Severity.LOW) is Severity.LOW
