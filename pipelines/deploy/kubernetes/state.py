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
from typing import Any, TypeVar

import msgspec

from pipelines import codec
from pipelines.deploy.events import JournalEvent, decode_events
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
E = TypeVar("E", bound=JournalEvent)


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

    def discard(self) -> None:
        """Delete the journal's ConfigMap and the Lease, and what is kept on this machine."""
        self.client.delete("ConfigMap", self.scope.namespace, state_name(self.scope))
        self.client.delete("Lease", self.scope.namespace, lease_name(self.scope))
        super().discard()

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

    def append(self, event: E) -> E:
        """Write one event to the ConfigMap before returning (optimistic concurrency)."""
        stamped = msgspec.structs.replace(
            event, at=datetime.now(UTC).isoformat(timespec="milliseconds")
        )
        line = codec.encode(stamped).decode() + "\n"
        for _ in range(CONFLICT_RETRIES):
            current = self._config_map()
            lines = ((current or {}).get("data") or {}).get(JOURNAL_KEY, "") + line
            if len(lines.encode()) > MAX_JOURNAL_BYTES:
                raise StateTooLarge(
                    f"the deploy journal in ConfigMap {self.scope.namespace}/"
                    f"{state_name(self.scope)} is larger than {MAX_JOURNAL_BYTES} bytes"
                )
            body = self._body(lines, line)
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
            return stamped
        raise KubernetesError(
            f"the ConfigMap {self.scope.namespace}/{state_name(self.scope)} kept changing "
            f"under {CONFLICT_RETRIES} writes"
        )

    def repair(self) -> str:
        """A ConfigMap is written whole: no line is ever torn."""
        return ""

    def entries(self) -> list[JournalEvent]:
        """Every event, in order; a line that is not an event makes the journal unreadable
        (nothing is decided from it), as with the file journal."""
        return _decode(self._text(), f"ConfigMap {self.scope.namespace}/{state_name(self.scope)}")

    def _text(self) -> str:
        current = self._config_map()
        return str(((current or {}).get("data") or {}).get(JOURNAL_KEY, ""))

    def _config_map(self) -> dict[str, Any] | None:
        return self.client.get("ConfigMap", self.scope.namespace, state_name(self.scope))

    def _body(self, lines: str, head: str) -> dict[str, Any]:
        data = {JOURNAL_KEY: lines, HEAD_KEY: head.strip()}
        stable = fold(_decode(lines, state_name(self.scope))).stable
        if stable is not None:
            data[STABLE_KEY] = json.dumps({"id": stable.id, "version": stable.version})
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.scope.metadata(state_name(self.scope)),
            "data": data,
        }


def _decode(text: str, where: str) -> list[JournalEvent]:
    return decode_events(
        text.splitlines(), where, "the journal decides what runs: restore the ConfigMap from a copy"
    )
