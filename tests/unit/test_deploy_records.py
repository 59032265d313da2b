"""What deploys leave behind, without servers: the journal's story, the evidence files, the
metrics, the nginx config, a drill's verdict and the CLI's refusals."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipelines import codec
from pipelines.cli import main
from pipelines.config.deploy import AnalysisSettings, Approval
from pipelines.config.pipeline import load_config
from pipelines.config.schema import parse_duration
from pipelines.deploy import routing
from pipelines.deploy.analysis import Sample, judge
from pipelines.deploy.controller import DeployReport, StepRecord
from pipelines.deploy.drill import DrillReport, _judge
from pipelines.deploy.environment import DeployEnv, state_root
from pipelines.deploy.events import DeployFinished, DeployStarted
from pipelines.deploy.guards import DeployRefused, require_approval, require_open_gate
from pipelines.deploy.journal import DeployStatus
from pipelines.deploy.load import LoadResult, Request
from pipelines.deploy.nginx import Nginx
from pipelines.deploy.outcome import deploy_metrics, record
from pipelines.deploy.records import ApprovalRecord, ClientsSummary, DrillReportFile, GateRecord
from pipelines.deploy.releases import new_release, project_version, prune_releases
from pipelines.deploy.routing import RoutingRecord
from pipelines.deploy.steps import Route, Start
from pipelines.deploy.target import Release, TargetError
from pipelines.errors import UsageError
from pipelines.layout import Layout
from pipelines.report.history import read_history, when_of


def _report(tmp_path: Path, status: DeployStatus) -> DeployReport:
    good = Release("r1", "1.0.0", "abc", tmp_path)
    bad = Release("r2", "2.0.0", "def", tmp_path, {"SERVICE_ERROR_RATE": "0.3"})
    report = DeployReport("r2-staging", bad, good, "canary", status, "analysis Failed")
    report.timeline.started = 100.0
    report.timeline.exposed = 101.0
    report.timeline.fault_seen = 106.0
    report.timeline.decision = 106.0
    report.timeline.traffic_on_stable = 106.2
    report.timeline.cleanup = 106.5
    report.timeline.finished = 106.5
    report.steps.append(StepRecord("local", Start("r2-0"), 0.2, True))
    report.steps.append(StepRecord("local", Route((("r1-0", 1),)), 0.2, True))
    report.switches.append(0.2)
    bad_sample = Sample(tuple([5.0] * 40), tuple(i % 3 == 0 for i in range(40)))
    good_sample = Sample(tuple([5.0] * 40), tuple([False] * 40))
    report.measurements.append(judge(bad_sample, good_sample, AnalysisSettings(), 106.0))
    return report


def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DeployEnv:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text("version: 1\nname: shop\n")
    (project / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "3.1.4"\n')
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path / "state"))
    config = load_config(project)
    environ = {"PIPELINES_STATE_DIR": str(tmp_path / "state"), "PIPELINES_ACTOR": "ci-bot"}
    return DeployEnv.open(project, config, "staging", Layout.of(project, {}), environ)


def test_a_rolled_back_deploy_leaves_evidence_metrics_and_an_audit_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _env(tmp_path, monkeypatch)
    report = _report(tmp_path, DeployStatus.ROLLED_BACK)
    recorded = record(
        denv,
        report,
        action="deploy",
        approval=ApprovalRecord(required=False),
        gate=GateRecord(status="open"),
    )
    manifest = json.loads((recorded.evidence / "deployment-manifest.json").read_text())
    assert manifest["outcome"] == "rolled-back" and manifest["previous"]["id"] == "r1"
    assert manifest["audit"]["seq"] == 1
    metrics = json.loads((recorded.evidence / "deployment-metrics.json").read_text())
    durations = metrics["durations"]
    assert durations["time_to_detect"] == 6.0
    assert durations["decision_to_traffic_on_stable"] == pytest.approx(0.2)
    assert metrics["analysis"][0]["verdict"] == "Failed"
    monitoring = json.loads((recorded.evidence / "monitoring-config.json").read_text())
    assert monitoring["analysis"]["interval"] == 5.0
    text = (denv.layout.stage("metrics") / "deploy_metrics.prom").read_text()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values["pipeline_last_deploy_success"] == 0
    assert values["pipeline_last_rollback_timestamp_seconds"] == 106.5
    audit = json.loads((denv.layout.artifacts / "deploy-audit.jsonl").read_text())
    assert audit["action"] == "deploy-finished" and audit["actor"] == "ci-bot"
    # The history reads the deploy back.
    entry = read_history(denv.layout.artifacts).deploys[0]
    assert entry.rolled_back and entry.timeline.decision == 106.0
    assert entry.manifest.previous == report.previous  # the declared type, both ways
    assert entry.metrics.analysis == [m.summary() for m in report.measurements]


def test_a_promoted_deploy_has_no_rollback_gauges() -> None:
    report = _report(Path(), DeployStatus.SUCCEEDED)
    report.timeline.traffic_on_stable = report.timeline.cleanup = None
    measured = deploy_metrics("shop", "staging", report)
    assert measured.deploy_succeeded is True and measured.rollback_at is None
    assert "pipeline_rollback_duration_seconds" not in measured.values()


def test_releases_are_snapshots_and_versions_come_from_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _env(tmp_path, monkeypatch)
    (denv.project / "app.py").write_text("print('v1')\n")
    (denv.project / ".venv").mkdir()
    (denv.project / ".venv" / "big").write_text("x")
    release = new_release(denv, None, "0123456789abcdef")
    assert release.version == "3.1.4" == project_version(denv.project)
    assert (release.directory / "app.py").read_text() == "print('v1')\n"
    assert not (release.directory / ".venv").exists()
    (denv.project / "app.py").write_text("print('v2')\n")
    assert (release.directory / "app.py").read_text() == "print('v1')\n"
    assert codec.decode(codec.encode(release), Release, "release") == release
    assert state_root({"PIPELINES_STATE_DIR": "/x"}) == Path("/x")
    assert state_root({"HOME": "/home/u"}) == Path("/home/u/.local/state/portable-pipelines")


def test_the_gate_guard_names_what_is_missing_or_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _env(tmp_path, monkeypatch)
    with pytest.raises(DeployRefused) as raised:
        require_open_gate(denv)
    assert raised.value.exit_code == 1
    assert "no gate decision for environment 'staging'" in raised.value.message
    deploy = msgspec.structs.replace(denv.environment.deploy, approval=Approval.REQUIRED)
    needs_approval = replace(
        denv, environment=msgspec.structs.replace(denv.environment, deploy=deploy)
    )
    with pytest.raises(DeployRefused) as approval:
        require_approval(needs_approval, None)
    assert "requires approval" in approval.value.message


def test_nginx_config_lists_only_weighted_servers_and_answers_its_generation(
    tmp_path: Path,
) -> None:
    config = Nginx.__new__(Nginx)  # rendering needs no nginx binary
    config.prefix, config.listen, config.state = tmp_path, "127.0.0.1:18080", tmp_path / "r.json"
    config.preview_listen = None
    text = config.render({"127.0.0.1:1001": 90, "127.0.0.1:1002": 10, "127.0.0.1:1003": 0}, 7)
    assert "server 127.0.0.1:1001 weight=90" in text
    assert "server 127.0.0.1:1002 weight=10" in text
    assert "1003 weight" not in text
    assert '"generation": 7' in text
    assert "proxy_next_upstream error timeout" in text
    assert "server 127.0.0.1:9 down" in config.render({}, 8)
    assert config.current() == (0, {})
    assert "listen 127.0.0.1:18090" not in text  # no preview address unless one is set
    config.preview_listen = "127.0.0.1:18090"
    previewing = config.render({"127.0.0.1:1001": 1}, 9, {"127.0.0.1:1004": 1})
    preview_block = previewing.split("upstream preview", 1)[1]
    assert "listen 127.0.0.1:18090" in preview_block
    assert "server 127.0.0.1:1004 weight=1" in preview_block
    assert "1001" not in preview_block


def test_a_drill_fails_on_lost_requests_a_missed_sla_or_the_wrong_final_state(
    tmp_path: Path,
) -> None:
    report = DrillReport("staging", "canary", "errors", sla_seconds=5.0)
    report.deploy = _report(tmp_path, DeployStatus.ROLLED_BACK)
    report.load = LoadResult(
        [
            Request(1.0, 200, "good", injected=False),
            Request(2.0, 500, "bad", injected=True),
            Request(3.0, None, None, injected=False),
        ]
    )
    report.final_versions = ("good", "bad")
    _judge(report, "good")
    assert not report.passed
    problems = " ".join(report.problems)
    assert "over the SLA of 5 s" in problems
    assert "1 client requests were lost" in problems
    assert "serves good, bad, not good" in problems
    data = report.file()
    assert data.clients == ClientsSummary(
        sent=3,
        failed=2,
        failed_injected=1,
        lost=1,
        lost_by_cause={
            "timeouts": 0,
            "resets": 1,
            "router_502": 0,
            "router_503": 0,
            "router_504": 0,
            "other": 0,
        },
        by_version={"good": 1, "bad": 1},
    )
    assert data.time_to_rollback_seconds == pytest.approx(0.2)
    assert codec.decode(codec.encode(data), DrillReportFile, "drill") == data


def test_durations_and_run_ids() -> None:
    assert parse_duration("48h", "--for") == 172800
    assert parse_duration("250ms", "--every") == 0.25
    with pytest.raises(UsageError, match="--for: expected a duration"):
        parse_duration("soon", "--for")
    assert when_of("20261129T111411123Z-abcdef").microsecond == 123000
    assert when_of("20261129T111411Z-abcdef").second == 11


def test_the_deploy_commands_refuse_bad_input_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    assert main(["deploy", "-C", str(project), "--env", "staging", "--force"]) == 2
    assert "--force needs --reason" in capsys.readouterr().err
    assert main(["deploy", "-C", str(project), "--env", "nowhere"]) == 2
    assert "unknown environment 'nowhere'" in capsys.readouterr().err
    assert main(["deploy", "-C", str(project), "--env", "staging", "--target", "mars"]) == 2
    assert "has no target 'mars'" in capsys.readouterr().err
    assert main(["watch", "-C", str(project), "--env", "staging", "--for", "ever"]) == 2
    assert main(["drill", "rollback", "-C", str(project), "--fault", "fire"]) == 2
    assert "service.faults has no fault 'fire'" in capsys.readouterr().err


def test_automatic_rollback_follows_the_flag_it_is_bound_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _env(tmp_path, monkeypatch)
    (denv.project / "flags.yaml").write_text(
        "version: 1\nflags:\n  AUTO_ROLLBACK_ENABLED:\n"
        "    environments: {staging: false, production: true}\n"
    )
    bound = msgspec.structs.replace(
        denv.environment.deploy, auto_rollback_flag="AUTO_ROLLBACK_ENABLED"
    )
    staging = replace(denv, environment=msgspec.structs.replace(denv.environment, deploy=bound))
    assert staging.auto_rollback() is False
    assert denv.auto_rollback() is True  # not bound: the setting itself
    missing = msgspec.structs.replace(bound, auto_rollback_flag="NO_SUCH_FLAG")
    with pytest.raises(UsageError, match="does not declare"):
        replace(
            denv, environment=msgspec.structs.replace(denv.environment, deploy=missing)
        ).auto_rollback()


def test_a_service_without_a_command_is_told_which_key_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    denv = _env(tmp_path, monkeypatch)
    with pytest.raises(UsageError, match=r"service\.command is not set"):
        denv.targets()
    assert main(["drill", "rollback", "-C", str(denv.project)]) == 2
    assert "service.faults has no fault 'errors'" in capsys.readouterr().err


def test_a_deploy_whose_evidence_cannot_be_kept_never_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (tmp_path / "blocker").write_text("a file where a directory must go")
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path / "state"))
    args = ["deploy", "-C", str(project), "--env", "staging", "--force", "--reason", "x"]
    assert main([*args, "--artifacts", str(tmp_path / "blocker" / "a")]) == 2
    assert "the deploy evidence cannot be written there" in capsys.readouterr().err
    assert not list((tmp_path / "state").glob("*/staging/journal.jsonl"))
    assert (
        main(["report", "html", "-C", str(project), "--out", str(tmp_path / "blocker/r.html")]) == 2
    )
    assert "the report cannot be written there" in capsys.readouterr().err


def _kept_run(artifacts: Path, run: str, decision: str) -> Path:
    directory = artifacts / run
    directory.mkdir(parents=True)
    (directory / "run-manifest.json").write_text(json.dumps({"run_id": run, "env": "staging"}))
    (directory / "gate-decision.json").write_text(decision)
    return directory / "gate-decision.json"


OPEN = json.dumps({"env": "staging", "status": "open", "reasons": [], "rules": []})


@pytest.mark.parametrize(
    "newest",
    [
        '{"env": "staging", "status": "open"',  # torn
        '{"env": "staging", "status": "open", "reasons": [], "rules": 3}',
        '{"env": "staging", "status": "open", "rules": [], "findings": []}',
        '["not", "a", "decision"]',
    ],
)
def test_an_unreadable_newest_decision_refuses_even_with_an_older_open_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    newest: str,
) -> None:
    denv = _env(tmp_path, monkeypatch)
    _kept_run(denv.layout.artifacts, "20261101T100000000Z-aaaaaa", OPEN)
    assert require_open_gate(denv).run_id == "20261101T100000000Z-aaaaaa"
    broken = _kept_run(denv.layout.artifacts, "20261102T100000000Z-bbbbbb", newest)
    with pytest.raises(DeployRefused, match="cannot be read") as refused:
        require_open_gate(denv)
    assert str(broken) in refused.value.message
    assert main(["deploy", "-C", str(denv.project), "--env", "staging"]) == 1
    assert str(broken) in capsys.readouterr().err


@pytest.mark.parametrize(
    "prefix", ['/tmp/x"; error_log /etc/passwd', "/tmp/$host", "/tmp/a{b}", "/tmp/a\nb", "/x;y"]
)
def test_nginx_refuses_a_state_path_its_config_cannot_carry(tmp_path: Path, prefix: str) -> None:
    config = Nginx.__new__(Nginx)
    config.prefix, config.listen = Path(prefix), "127.0.0.1:18080"
    config.preview_listen = None
    with pytest.raises(UsageError, match="cannot carry safely") as refused:
        config.render({"127.0.0.1:1001": 1}, 1)
    assert "PIPELINES_STATE_DIR" in refused.value.hint


def test_nginx_quotes_paths_and_refuses_foreign_servers_and_addresses(tmp_path: Path) -> None:
    config = Nginx.__new__(Nginx)
    config.prefix, config.listen = tmp_path / "state dir", "127.0.0.1:18080"
    config.preview_listen = None
    text = config.render({"127.0.0.1:1001": 1}, 1)
    assert f'pid "{tmp_path}/state dir/nginx.pid";' in text
    assert "max_fails=3 fail_timeout=5s" in text  # passive health
    assert "proxy_request_buffering off;" in text
    for server in ("127.0.0.1:1001; include /etc/x", "backend:80", "127.0.0.1:80 backup"):
        with pytest.raises(TargetError, match="refusing to route"):
            config.render({server: 1}, 2)
    with pytest.raises(UsageError, match="cannot listen on"):
        Nginx(tmp_path, "0.0.0.0:80; user root")


def test_nginx_workers_drop_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = Nginx.__new__(Nginx)
    config.prefix, config.listen = tmp_path, "127.0.0.1:18080"
    config.preview_listen = None
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert "user nobody nogroup;" in config.render({}, 1) or "user nobody nobody;" in (
        config.render({}, 1)
    )
    assert "user root" not in config.render({}, 1)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert "user " not in config.render({}, 1).split("events")[0]


def test_old_release_snapshots_are_pruned_but_never_stable_or_the_rollback_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _env(tmp_path, monkeypatch)
    journal = denv.journal
    for number in range(1, 8):
        release = Release(
            f"r{number}", f"{number}.0", "c", denv.directory / "releases" / f"r{number}"
        )
        release.directory.mkdir(parents=True)
        journal.append(
            DeployStarted(
                deploy=f"r{number}-staging", release=release, previous=None, strategy="canary"
            )
        )
        status = DeployStatus.SUCCEEDED if number in (1, 2, 3) else DeployStatus.ROLLED_BACK
        journal.append(DeployFinished(deploy=f"r{number}-staging", status=status))
    removed = prune_releases(denv, keep=3)
    kept = sorted(p.name for p in (denv.directory / "releases").iterdir())
    # r3 is stable, r2 is what a rollback goes back to, r7 is the last deploy's.
    assert removed == ["r1", "r4"]
    assert kept == ["r2", "r3", "r5", "r6", "r7"]


def test_a_snapshot_never_copies_what_a_link_in_the_checkout_points_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _env(tmp_path, monkeypatch)
    secret = tmp_path / "host-only"
    secret.write_text("host secret\n")
    (denv.project / "app.py").write_text("print('v1')\n")
    (denv.project / "leak").symlink_to(secret)
    release = new_release(denv, None, "0123456789abcdef")
    copied = release.directory / "leak"
    assert copied.is_symlink()  # kept as the link it is, never as the file behind it
    assert not any(
        "host secret" in p.read_text()
        for p in release.directory.rglob("*")
        if p.is_file() and not p.is_symlink()
    )


def test_a_snapshot_leaves_out_the_sdks_state_reports_and_artifacts_inside_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denv = _env(tmp_path, monkeypatch)
    # The state, and so the releases themselves, inside the project: a copy must not recurse.
    state = denv.project / ".state"
    environ = {"PIPELINES_STATE_DIR": str(state), "PIPELINES_ACTOR": "ci-bot"}
    layout = Layout.of(denv.project, {})
    denv = DeployEnv.open(denv.project, denv.config, "staging", layout, environ)
    (denv.project / "app.py").write_text("print('v1')\n")
    for place in (layout.reports, layout.artifacts):
        (place / "old").mkdir(parents=True)
    release = new_release(denv, None, "0123456789abcdef")
    assert (release.directory / "app.py").is_file()
    assert sorted(p.name for p in release.directory.iterdir()) == [
        "app.py",
        "pipeline.yaml",
        "pyproject.toml",
    ]


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("up/shop", "a symbolic link on the way"),  # up -> .. : the project seen from its parent
        ("up", "which is a symbolic link"),
        (".state", "the SDK's own state"),
        (".state/shop-x", "the SDK's own state"),
        ("reports", "the SDK's own reports"),
        ("pipe", "which is not a file or directory"),
    ],
)
def test_service_files_naming_the_project_a_parent_or_the_state_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, said: str
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text(
        f"version: 1\nname: shop\nservice: {{files: [app.py, '{entry}']}}\n"
    )
    (project / "app.py").write_text("print('v1')\n")
    (project / "up").symlink_to("..")
    os.mkfifo(project / "pipe")
    (project / ".state" / "shop-x").mkdir(parents=True)
    (project / "reports").mkdir()
    environ = {"PIPELINES_STATE_DIR": str(project / ".state"), "PIPELINES_ACTOR": "ci-bot"}
    monkeypatch.setenv("PIPELINES_STATE_DIR", environ["PIPELINES_STATE_DIR"])
    denv = DeployEnv.open(project, load_config(project), "staging", Layout.of(project, {}), environ)
    with pytest.raises(UsageError) as refused:
        new_release(denv, None, "0123456789abcdef")
    assert "pipeline.yaml: service.files lists" in refused.value.message
    assert repr(entry) in refused.value.message and said in refused.value.message
    assert not (denv.directory / "releases").exists()


def test_a_state_directory_that_holds_the_whole_project_still_snapshots_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pipeline.yaml").write_text("version: 1\nname: shop\n")
    (project / "app.py").write_text("print('v1')\n")
    environ = {"PIPELINES_STATE_DIR": str(tmp_path), "PIPELINES_ACTOR": "ci-bot"}
    monkeypatch.setenv("PIPELINES_STATE_DIR", str(tmp_path))
    denv = DeployEnv.open(project, load_config(project), "staging", Layout.of(project, {}), environ)
    release = new_release(denv, None, "0123456789abcdef")
    assert (release.directory / "app.py").is_file()


def test_a_fifo_or_socket_in_the_checkout_is_left_out_of_a_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stage that may write the tree can leave one; copying it would hang or fail.
    denv = _env(tmp_path, monkeypatch)
    (denv.project / "app.py").write_text("print('v1')\n")
    (denv.project / "run").mkdir()
    os.mkfifo(denv.project / "run" / "pipe")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(denv.project / "run" / "sock"))
        release = new_release(denv, None, "0123456789abcdef")
    assert (release.directory / "app.py").is_file()
    assert list((release.directory / "run").iterdir()) == []


def test_routing_records_keep_the_newest_and_replace_a_generation_handed_over_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "routing.json"
    assert routing.read(path) == []
    for generation in (1, 2, 3, 4):
        routing.write(path, [*routing.read(path), RoutingRecord(generation=generation, servers={})])
    assert [r.generation for r in routing.read(path)] == [2, 3, 4]
    # A record of a generation already kept replaces it (never two answers for one number).
    again = RoutingRecord(generation=4, servers={"127.0.0.1:1001": 1}, names={"r2-0": 1})
    routing.write(path, [*routing.read(path), again])
    assert routing.read(path)[-1] == again and len(routing.read(path)) == 3
    path.write_text("{torn")
    assert routing.read(path) == []


def test_artifacts_prune_applies_keep_releases_and_leaves_a_running_deploy_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    denv = _env(tmp_path, monkeypatch)
    (denv.project / "pipeline.yaml").write_text(
        "version: 1\nname: shop\nenvironments:\n  staging:\n    deploy:\n"
        "      keep_releases: 2\n      targets: [{name: local, listen: '127.0.0.1:18099'}]\n"
    )
    denv = DeployEnv.open(
        denv.project, load_config(denv.project), "staging", denv.layout, denv.environ
    )
    for number in range(1, 6):
        release = Release(
            f"r{number}", f"{number}.0", "c", denv.directory / "releases" / f"r{number}"
        )
        release.directory.mkdir(parents=True)
        denv.journal.append(
            DeployStarted(deploy=f"d{number}", release=release, previous=None, strategy="canary")
        )
        denv.journal.append(DeployFinished(deploy=f"d{number}", status=DeployStatus.SUCCEEDED))
    home = denv.directory / "releases"
    prune = ["artifacts", "prune", "-C", str(denv.project), "--json"]

    with denv.journal.lock("a deploy in another shell"):
        assert main(prune) == 0
        busy = json.loads(capsys.readouterr().out)["releases"]["staging"]
        assert busy["surplus"] == [] and "another deploy" in busy["busy"]
    assert len(list(home.iterdir())) == 5

    assert main([*prune, "--dry-run"]) == 0
    planned = json.loads(capsys.readouterr().out)["releases"]["staging"]["surplus"]
    assert [Path(p).name for p in planned] == ["r1", "r2", "r3"]
    assert len(list(home.iterdir())) == 5  # a dry run removes nothing

    assert main(prune) == 0
    capsys.readouterr()
    # r5 is stable and the last deploy's, r4 what a rollback goes back to.
    assert sorted(p.name for p in home.iterdir()) == ["r4", "r5"]
    assert main(prune[:-1]) == 0
    assert "release" not in capsys.readouterr().out.split("artifacts removed")[1]
