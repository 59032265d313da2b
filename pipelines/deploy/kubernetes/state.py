"""An environment's deploy state kept in its cluster, so that any machine, CI job or Dagger
exec can ``status``, ``--resume``, ``promote`` or ``rollback`` it: the journal in a ConfigMap
(with its head and the stable release beside it, for people reading it with kubectl) and the
lock in a Lease. The journal's entries and their replay are the file journal's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.deploy.journal import Journal, fold
from pipelines.deploy.kubernetes.client import KubeClient, KubernetesError
from pipelines.deploy.kubernetes.lease import LeaseLock, identity
from pipelines.deploy.kubernetes.manifests import Scope

JOURNAL_KEY = "journal.jsonl"
HEAD_KEY = "head.json"
STABLE_KEY = "stable.json"
# A ConfigMap holds 1 MiB; stop well before so the error names the cause, not the API's limit.
MAX_JOURNAL_BYTES = 900_000
CONFLICT_RETRIES = 5


class StateTooLarge(KubernetesError):
    """The journal no longer fits its ConfigMap."""


def state_name(scope: Scope) -> str:
    """The ConfigMap with the environment's journal."""
    return f"{scope.app}-deploy-state"


def lease_name(scope: Scope) -> str:
    """The Lease that is the environment's lock."""
    return f"{scope.app}-deploy-lock"


class ClusterJournal(Journal):
    """The environment's journal in a ConfigMap and its lock in a Lease. ``directory`` still
    holds what is local to this machine (release snapshots)."""

    def __init__(
        self, directory: Path, client: KubeClient, scope: Scope, lease_seconds: float
    ) -> None:
        super().__init__(directory)
        self.client, self.scope, self.lease_seconds = client, scope, lease_seconds
        self.held: LeaseLock | None = None

    @contextmanager
    def lock(self, description: str) -> Iterator[None]:
        """One controller per environment, wherever it runs (LeaseBusy, exit 2, otherwise)."""
        lease = LeaseLock(
            self.client,
            namespace=self.scope.namespace,
            name=lease_name(self.scope),
            holder=identity(description),
            duration=self.lease_seconds,
        )
        with lease.held():
            self.held = lease
            try:
                yield
            finally:
                self.held = None

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Write one entry to the ConfigMap before returning (optimistic concurrency)."""
        entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
        entry.update(data)
        line = json.dumps(entry, sort_keys=True) + "\n"
        for _ in range(CONFLICT_RETRIES):
            current = self._config_map()
            lines = ((current or {}).get("data") or {}).get(JOURNAL_KEY, "") + line
            if len(lines.encode()) > MAX_JOURNAL_BYTES:
                raise StateTooLarge(
                    f"the deploy journal in ConfigMap {self.scope.namespace}/"
                    f"{state_name(self.scope)} is larger than {MAX_JOURNAL_BYTES} bytes"
                )
            body = self._body(lines, entry)
            try:
                if current is None:
                    self.client.create(body)
                else:
                    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    self.client.replace(body)
            except KubernetesError as exc:
                if exc.status == 409:
                    continue  # written in between (a status reader never writes): read again
                raise
            return entry
        raise KubernetesError(
            f"the ConfigMap {self.scope.namespace}/{state_name(self.scope)} kept changing "
            f"under {CONFLICT_RETRIES} writes"
        )

    def entries(self) -> list[dict[str, Any]]:
        """Every entry; a line that does not decode is skipped as the file journal does."""
        current = self._config_map()
        text = ((current or {}).get("data") or {}).get(JOURNAL_KEY, "")
        found: list[dict[str, Any]] = []
        for line in str(text).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
        return found

    def _config_map(self) -> dict[str, Any] | None:
        return self.client.get("ConfigMap", self.scope.namespace, state_name(self.scope))

    def _body(self, lines: str, entry: dict[str, Any]) -> dict[str, Any]:
        data = {JOURNAL_KEY: lines, HEAD_KEY: json.dumps(entry, sort_keys=True)}
        stable = _stable(lines)
        if stable is not None:
            data[STABLE_KEY] = json.dumps(stable, sort_keys=True)
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.scope.metadata(state_name(self.scope)),
            "data": data,
        }


def _stable(lines: str) -> dict[str, Any] | None:
    """The stable release as the journal tells it (for kubectl readers)."""
    entries = []
    for line in lines.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    stable = fold(entries).stable
    return None if stable is None else {"id": stable.id, "version": stable.version}
