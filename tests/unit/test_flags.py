"""Feature flags: bucketing, progressive rollout, the example matrix, changes and their audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason

from pipelines.cli import main
from pipelines.errors import ConfigError, UsageError
from pipelines.flags.evaluate import Reason as FlagReason
from pipelines.flags.evaluate import as_environment, evaluate
from pipelines.flags.model import EnvironmentSetting, Flag, load_flags
from pipelines.flags.openfeature import PipelinesProvider
from pipelines.flags.rollout import Rollout, normalized_value
from pipelines.flags.store import set_flag

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "service" / "flags.yaml"
START = datetime(2026, 11, 23, tzinfo=UTC)


def test_bucketing_matches_unleash_normalized_murmur3() -> None:
    # Test vectors of Unleash's client specification (normalizedValue, normalizer 100).
    assert normalized_value("123", "gr1") == 73
    assert normalized_value("999", "groupX") == 25
    # Another normalizer is the same hash modulo another number.
    assert (normalized_value("123", "gr1", 1000) - 1) % 100 + 1 == 73


def test_buckets_are_uniform_over_100000_keys() -> None:
    counts = [0] * 100
    keys = 100_000
    for index in range(keys):
        counts[normalized_value(f"user-{index}", "PHASE_4_DEPLOYMENT") - 1] += 1
    expected = keys / 100
    chi_square = sum((count - expected) ** 2 / expected for count in counts)
    # Critical value of chi-square with 99 degrees of freedom at p = 0.001.
    assert chi_square < 148.23


def test_rollout_percentage_moves_linearly_and_keys_stay_in() -> None:
    rollout = Rollout(START, START + timedelta(days=7))
    assert rollout.percent(START - timedelta(days=1)) == 0
    assert rollout.percent(START + timedelta(days=3.5)) == pytest.approx(50)
    assert rollout.percent(START + timedelta(days=8)) == 100
    flag = Flag("F", "bool", False, environments={"production": EnvironmentSetting(True, rollout)})
    moments = [START + timedelta(days=d) for d in (1, 2, 4, 6, 7)]
    keys = [f"user-{i}" for i in range(2000)]
    previous: set[str] = set()
    for moment in moments:
        inside = {k for k in keys if evaluate(flag, "production", moment, k).value}
        assert previous <= inside  # nobody flips back as the rollout grows
        assert abs(len(inside) / len(keys) * 100 - rollout.percent(moment)) < 4
        previous = inside
    assert previous == set(keys)


def test_the_example_matrix() -> None:
    flags = load_flags(EXAMPLE)
    assert len(flags.flags) == 11
    now = START + timedelta(days=3)
    phase_1_3 = [
        "ORCHESTRATION_ENABLED",
        "SECURITY_HARDENING_ENABLED",
        "LLM_INTEGRATION_ENABLED",
        "ERROR_HANDLING_ENABLED",
        "OTEL_ENABLED",
        "PERFORMANCE_OPTIMIZATIONS_ENABLED",
    ]
    for env in ("ci", "staging", "production"):
        values = as_environment(flags, env, now)
        assert all(values[name] == "true" for name in phase_1_3)
    for name in ("AATC_SYSTEM_ENABLED", "AATC_TOOL_GENERATION_ENABLED"):
        assert as_environment(flags, "staging", now)[name] == "true"
        assert as_environment(flags, "production", now)[name] == "false"
        assert as_environment(flags, "ci", now)[name] == "false"
    phase_4 = flags.flag("PHASE_4_DEPLOYMENT")
    assert evaluate(phase_4, "ci", now).value is False
    assert evaluate(phase_4, "staging", now).value is True
    assert evaluate(phase_4, "production", START).percent == 0
    assert evaluate(phase_4, "production", now).percent == pytest.approx(300 / 7)
    assert evaluate(phase_4, "production", START + timedelta(days=7)).value is True
    # Before 100%, a stage (no key) keeps the default; a user is in or out by bucket.
    assert as_environment(flags, "production", now)["PHASE_4_DEPLOYMENT"] == "false"
    assert as_environment(flags, "production", now)["PHASE_4_DEPLOYMENT_ROLLOUT_PERCENT"] == (
        f"{300 / 7:g}"
    )
    users = [evaluate(phase_4, "production", now, f"u{i}") for i in range(1000)]
    share = sum(u.value is True for u in users) / 10
    assert 37 < share < 49
    assert {u.reason for u in users} == {FlagReason.ROLLOUT_IN, FlagReason.ROLLOUT_OUT}


BAD_FLAGS = [
    ("flags:\n  X:\n    environments: {ci: 1}\n", "flags.X.environments.ci: expected a bool value"),
    ("flags:\n  lower: {}\n", "flags.lower: expected an upper-case name"),
    ("flags:\n  X:\n    colour: red\n", "flags.X.colour: unknown key"),
    (
        "flags:\n  X:\n    environments:\n      prod:\n        value: true\n"
        "        rollout: {start: '2026-11-23T00:00:00Z', duration: 7d, to: 120}\n",
        "rollout.to: expected a number from 0 to 100",
    ),
    (
        "flags:\n  X:\n    environments:\n      prod:\n        value: true\n"
        "        rollout: {start: '2026-11-23T00:00:00Z', end: '2026-11-01T00:00:00Z'}\n",
        "ends (2026-11-01T00:00:00+00:00) before it starts",
    ),
    (
        "flags:\n  X:\n    environments:\n      prod:\n        value: true\n"
        "        rollout: {start: '2026-11-23T00:00:00Z', duration: soon}\n",
        "rollout.duration: expected a duration",
    ),
    ("flags:\n  X:\n    type: int\n", "an int flag needs a 'default'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FLAGS)
def test_bad_flag_files_name_the_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("version: 1\n" + text)
    with pytest.raises(ConfigError) as caught:
        load_flags(path)
    assert caught.value.message.startswith(f"{path}:")
    assert message in caught.value.message


@pytest.fixture
def flag_project(tmp_path: Path) -> Path:
    (tmp_path / "flags.yaml").write_text(EXAMPLE.read_text())
    return tmp_path


def test_set_records_who_when_what_and_why(flag_project: Path) -> None:
    flags = load_flags(flag_project / "flags.yaml")
    change = set_flag(
        flags, "OTEL_ENABLED", "production", "false", reason="incident 42", who="alice", now=START
    )
    assert (change.old, change.new) == (True, False)
    reloaded = load_flags(flag_project / "flags.yaml")
    assert reloaded.flag("OTEL_ENABLED").environments["production"].value is False
    # The rollout of another flag survived the rewrite.
    assert reloaded.flag("PHASE_4_DEPLOYMENT").environments["production"].rollout is not None
    entry = json.loads((flag_project / "flags-audit.jsonl").read_text().splitlines()[0])
    assert {k: entry[k] for k in ("actor", "flag", "env", "old", "new", "reason")} == {
        "actor": "alice",
        "flag": "OTEL_ENABLED",
        "env": "production",
        "old": True,
        "new": False,
        "reason": "incident 42",
    }
    assert entry["time"] == START.isoformat()


@pytest.mark.parametrize(
    ("name", "value", "reason", "message"),
    [
        ("NOPE_ENABLED", "true", "x", "unknown flag 'NOPE_ENABLED'"),
        ("OTEL_ENABLED", "maybe", "x", "OTEL_ENABLED is a bool flag; 'maybe' is not a bool"),
        ("OTEL_ENABLED", "true", " ", "a flag change needs a reason"),
    ],
)
def test_bad_changes_leave_the_file_untouched(
    flag_project: Path, name: str, value: str, reason: str, message: str
) -> None:
    before = (flag_project / "flags.yaml").read_bytes()
    with pytest.raises(UsageError, match=message):
        set_flag(
            load_flags(flag_project / "flags.yaml"),
            name,
            "ci",
            value,
            reason=reason,
            who="bob",
            now=START,
        )
    assert (flag_project / "flags.yaml").read_bytes() == before
    assert not (flag_project / "flags-audit.jsonl").exists()


def change_three_times(project: Path) -> Path:
    for value in ("false", "true", "false"):
        assert (
            main(
                [
                    "flags",
                    "set",
                    "OTEL_ENABLED",
                    value,
                    "--env",
                    "ci",
                    "-C",
                    str(project),
                    "--reason",
                    f"set {value}",
                ]
            )
            == 0
        )
    return project / "flags-audit.jsonl"


def test_audit_verify_detects_edits_and_removals(
    flag_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = change_three_times(flag_project)
    assert main(["audit", "verify", "-C", str(flag_project)]) == 0
    original = log.read_text()
    lines = original.splitlines(keepends=True)

    log.write_text(original.replace('"reason": "set true"', '"reason": "set TRUE"'))
    assert main(["audit", "verify", "-C", str(flag_project)]) == 1
    assert "line 2: its content does not match its hash" in capsys.readouterr().out

    log.write_text(lines[0] + lines[2])
    assert main(["audit", "verify", "-C", str(flag_project)]) == 1

    log.write_text(lines[0] + lines[1])  # the newest entry removed
    assert main(["audit", "verify", "-C", str(flag_project)]) == 1
    assert "entries were removed" in capsys.readouterr().out

    # A tampered log refuses new changes until it is restored.
    assert (
        main(
            [
                "flags",
                "set",
                "OTEL_ENABLED",
                "true",
                "--env",
                "ci",
                "-C",
                str(flag_project),
                "--reason",
                "x",
            ]
        )
        == 2
    )
    log.write_text(original)
    assert main(["audit", "verify", "-C", str(flag_project), "--json"]) == 0


def test_flags_cli_list_get_export_history(
    flag_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change_three_times(flag_project)
    capsys.readouterr()
    assert main(["flags", "export", "--env", "staging", "-C", str(flag_project)]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert "export AATC_SYSTEM_ENABLED=true" in exported
    assert "export MONITORING_LEVEL=full" in exported
    assert (
        main(["flags", "get", "MONITORING_LEVEL", "--env", "production", "-C", str(flag_project)])
        == 0
    )
    assert capsys.readouterr().out.strip() == "full-alerts"
    assert main(["flags", "history", "--env", "ci", "-C", str(flag_project), "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [h["new"] for h in history] == [False, True, False]
    assert main(["flags", "list", "--env", "ci", "-C", str(flag_project), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 11
    assert main(["flags", "get", "NOPE", "-C", str(flag_project)]) == 2
    assert main(["flags", "set", "OTEL_ENABLED", "true", "-C", str(flag_project)]) == 2


def test_every_stage_receives_the_flags(
    flag_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-C", str(flag_project), "--env", "staging", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    for stage in plan["stages"]:
        assert stage["env"]["AATC_SYSTEM_ENABLED"] == "true"
        assert stage["env"]["PIPELINES_ENV"] == "staging"


def test_openfeature_provider_uses_the_targeting_key() -> None:
    provider = PipelinesProvider(
        load_flags(EXAMPLE), "production", clock=lambda: START + timedelta(days=3)
    )
    level = provider.resolve_string_details("MONITORING_LEVEL", "basic")
    assert (level.value, level.reason) == ("full-alerts", Reason.STATIC)
    users = [
        provider.resolve_boolean_details(
            "PHASE_4_DEPLOYMENT", False, EvaluationContext(targeting_key=f"u{i}")
        )
        for i in range(200)
    ]
    assert {u.reason for u in users} == {Reason.SPLIT}
    assert 0 < sum(u.value for u in users) < 200
    again = provider.resolve_boolean_details(
        "PHASE_4_DEPLOYMENT", False, EvaluationContext(targeting_key="u7")
    )
    assert again.value == users[7].value
    missing = provider.resolve_boolean_details("NOPE", True)
    assert (missing.value, missing.error_code) == (True, "FLAG_NOT_FOUND")
    mismatch = provider.resolve_integer_details("MONITORING_LEVEL", 3)
    assert (mismatch.value, mismatch.error_code) == (3, "TYPE_MISMATCH")


def test_validate_checks_the_flags_file_too(
    flag_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "-C", str(flag_project)]) == 0
    assert "flags.yaml: valid (11 flags)" in capsys.readouterr().out
    text = (flag_project / "flags.yaml").read_text().replace("staging: true", "stagin: true", 1)
    (flag_project / "flags.yaml").write_text(text)
    assert main(["validate", "-C", str(flag_project)]) == 2
    assert "environments stagin are not in" in capsys.readouterr().err
    (flag_project / "flags.yaml").write_text("version: 1\nflags:\n  X:\n    type: colour\n")
    assert main(["validate", "-C", str(flag_project)]) == 2
    assert "flags.X.type: expected one of" in capsys.readouterr().err


def test_a_history_entry_that_is_not_a_flag_change_is_named(
    flag_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = change_three_times(flag_project)
    lines = log.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["new"] = {"on": True}
    log.write_text("\n".join([lines[0], json.dumps(entry), lines[2]]) + "\n")
    capsys.readouterr()
    # Shown beside the intact entries, with the warning that the log cannot be trusted.
    assert main(["flags", "history", "-C", str(flag_project)]) == 1
    out = capsys.readouterr().out
    assert "not a flag change" in out and "$.new" in out
    assert "not intact" in out and "line 2" in out
