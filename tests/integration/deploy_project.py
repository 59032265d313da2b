"""A copy of the example service set up for fast deploys (1 s analyses) on free ports."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import yaml

from pipelines.deploy.local import marked_processes
from pipelines.source_tree import tree_state
from tests.integration.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "service"


def deploy_project(tmp_path: Path, *, target: str = "local", **deploy: Any) -> Path:
    """The example service with a ``staging`` environment that deploys quickly."""
    project = tmp_path / "service"
    shutil.copytree(
        EXAMPLE,
        project,
        ignore=shutil.ignore_patterns(
            "reports", "artifacts", "__pycache__", ".*_cache", "*.egg-info"
        ),
    )
    config = yaml.safe_load((project / "pipeline.yaml").read_text())
    settings: dict[str, Any] = {
        "strategy": "canary",
        "instances": 2,
        "steps": [50, 100],
        "keep_old_for": "1s",
        "smoke": ["/"],
        "targets": [{"name": "local", "kind": target, "listen": f"127.0.0.1:{free_port()}"}],
        # Faults here are errors; latency only counts when it is grossly off, since a
        # machine at load 10 on 2 cores makes a freshly started process seconds slow.
        "analysis": {
            "interval": "1s",
            "requests": 30,
            "min_requests": 10,
            "max_p95_ms": {"value": 30000, "op": ">"},
            "latency_tolerance_ms": 5000,
        },
    }
    analysis = {**settings["analysis"], **deploy.pop("analysis", {})}
    settings.update(deploy, analysis=analysis)
    config["environments"]["staging"]["deploy"] = settings
    (project / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return project


def open_decision(project: Path, env: str = "staging", status: str = "open") -> None:
    """A gate decision for ``env`` as a run leaves it."""
    decision: dict[str, Any] = {
        "env": env,
        "status": status,
        "reasons": [],
        "rules": []
        if status == "open"
        else [
            {
                "name": "pass_rate",
                "verdict": "fail",
                "measured": 50,
                "threshold": 95,
                "comparison": ">=",
                "detail": "",
            }
        ],
        "tests": None,
        "coverage": None,
        "findings": None,
        "unchecked_scanners": {},
        "problems": [],
    }
    # Bound to the tree as it is now, as the gate stage binds it: a test that changes the
    # project afterwards decides again (or is refused).
    decision["release"] = msgspec.to_builtins(tree_state(project, os.environ))
    (project / "reports/gate").mkdir(parents=True, exist_ok=True)
    (project / "reports/gate/decision.json").write_text(json.dumps(decision))


def routed(state: Path) -> dict[str, int]:
    """The weights nginx routes with (from the target's state)."""
    found = list(state.glob("*/staging/targets/local/weights.json"))
    data: dict[str, int] = json.loads(found[0].read_text()) if found else {}
    return data


def listen(project: Path, env: str = "staging") -> str:
    """The address nginx listens on for ``env``."""
    config = yaml.safe_load((project / "pipeline.yaml").read_text())
    return str(config["environments"][env]["deploy"]["targets"][0]["listen"])


def serves(project: Path) -> str:
    """The version the environment's entrypoint answers with."""
    with urllib.request.urlopen(f"http://{listen(project)}/", timeout=5) as answer:
        return str(json.load(answer)["version"])


def stop_everything(state: Path) -> None:
    """Kill the nginx and instances a test left behind."""
    for pid_file in state.glob("*/*/targets/*/nginx/nginx.pid"):
        _stop_nginx(int(pid_file.read_text()))
    pids: list[int] = []
    for record in state.glob("*/*/targets/*/instances/*.json"):
        data = json.loads(record.read_text())
        if "pid" in data:
            pids.append(int(data["pid"]))
    pids += marked_processes(str(state))  # unrecorded ones too
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _stop_nginx(master: int) -> None:
    """Fast shutdown (SIGTERM), so the master takes its workers along: a SIGKILLed master
    leaves its workers behind, still listening."""
    workers = _children(master)
    with contextlib.suppress(ProcessLookupError):
        os.kill(master, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in (master, *workers)):
        time.sleep(0.05)
    for pid in (master, *workers):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The parent pid is the second field after the command name in parentheses.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie has ended: where nobody reaps it, it stays in the table)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
