"""The deploy and rollback gauges, apart from a run's: names of their own, every environment's
series in one textfile, and a rollback's series kept for the window its alert looks at.

node_exporter's textfile collector refuses two files that export the same series, and one
textfile per project holds every environment's deploys, so the series of each environment
are kept in a declared file of the project's deploy state and the textfile is written from
all of them (under a lock: two environments may deploy at once).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
from prometheus_client import CollectorRegistry, Gauge

from pipelines import codec
from pipelines.monitoring.metrics import check_name

SERIES = "deploy-series.json"
# PipelineRolledBack fires for an hour after a rollback (containers/monitoring/rules): a later
# deploy keeps the rollback's series at least that long.
ROLLBACK_WINDOW = 3600.0

DEPLOY_DURATION = "pipeline_deploy_duration_seconds"
DEPLOY_SUCCESS = "pipeline_last_deploy_success"
DEPLOY_TIMESTAMP = "pipeline_last_deploy_timestamp_seconds"
ROLLBACK_DURATION = "pipeline_rollback_duration_seconds"
ROLLBACK_TIMESTAMP = "pipeline_last_rollback_timestamp_seconds"
HELP = {
    DEPLOY_DURATION: "Duration of the last deploy.",
    DEPLOY_SUCCESS: "1 when the last deploy was promoted.",
    DEPLOY_TIMESTAMP: "When the last deploy finished (Unix time).",
    ROLLBACK_DURATION: "Duration of the last rollback.",
    ROLLBACK_TIMESTAMP: "When the last rollback finished (Unix time).",
}


class DeployGauges(msgspec.Struct, frozen=True, kw_only=True):
    """One environment's deploy series (absent values are not exported)."""

    pipeline: str
    env: str
    deploy_seconds: float | None = None
    deploy_succeeded: bool | None = None
    finished_at: float | None = None
    rollback_seconds: float | None = None
    rollback_at: float | None = None

    def values(self) -> dict[str, float]:
        """The exported values by metric name."""
        found = {
            DEPLOY_DURATION: self.deploy_seconds,
            DEPLOY_SUCCESS: None if self.deploy_succeeded is None else float(self.deploy_succeeded),
            DEPLOY_TIMESTAMP: self.finished_at,
            ROLLBACK_DURATION: self.rollback_seconds,
            ROLLBACK_TIMESTAMP: self.rollback_at,
        }
        return {name: value for name, value in found.items() if value is not None}


class DeploySeries(msgspec.Struct, frozen=True, kw_only=True):
    """Every environment's deploy series, by environment name."""

    envs: dict[str, DeployGauges] = {}


def carry_rollback(new: DeployGauges, old: DeployGauges | None, now: float) -> DeployGauges:
    """``new``, with the rollback of ``old`` when ``new`` has none and that rollback is still
    inside its alert's window (so the alert does not end at the next deploy)."""
    if new.rollback_at is not None or old is None or old.rollback_at is None:
        return new
    if now - old.rollback_at >= ROLLBACK_WINDOW:
        return new
    return msgspec.structs.replace(
        new, rollback_at=old.rollback_at, rollback_seconds=old.rollback_seconds
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def update(state: Path, gauges: DeployGauges, now: float) -> tuple[DeploySeries, str]:
    """Record one environment's new series (keeping every other's): all of them, and what a
    person should know ("" or the damaged file that was started afresh)."""
    path = state / SERIES
    note = ""
    with _locked(path):
        series = DeploySeries()
        if path.is_file():
            try:
                series = codec.read(path, DeploySeries)
            except codec.DamagedFile as exc:  # gauges, not decisions: start afresh, say so
                note = f"{exc.message}; the other environments' deploy series start afresh"
        kept = carry_rollback(gauges, series.envs.get(gauges.env), now)
        updated = DeploySeries(envs={**series.envs, gauges.env: kept})
        codec.write(path, updated)
    return updated, note


def registry(gauges: list[DeployGauges]) -> CollectorRegistry:
    """A registry of these environments' series, labelled with pipeline and env."""
    found = CollectorRegistry()
    metrics = {
        name: Gauge(check_name(name), text, ["pipeline", "env"], registry=found)
        for name, text in HELP.items()
    }
    for item in gauges:
        for name, value in item.values().items():
            metrics[name].labels(pipeline=item.pipeline, env=item.env).set(value)
    return found
