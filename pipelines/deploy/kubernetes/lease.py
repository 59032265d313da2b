"""One controller per environment across machines: a ``coordination.k8s.io/v1`` Lease held
with our identity and renewed while a deploy runs. Every write carries the resourceVersion it
read, so two controllers racing for an expired lease cannot both win (the API answers 409 to
the second). A controller that dies stops renewing; after ``leaseDurationSeconds`` another
one takes the lease over.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pipelines.deploy.kubernetes.client import KubeClient, KubernetesError
from pipelines.runlock import LockHeld

RENEWALS_PER_LEASE = 3  # renew three times per lease duration: two renewals may fail


def identity(description: str) -> str:
    """Who holds the lease: host, process and what it does (shown to a refused controller)."""
    return f"{socket.gethostname()}/{os.getpid()}: {description}"[:128]


def micro_time(seconds: float) -> str:
    """A MicroTime as the API writes it."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str) -> float | None:
    """Seconds since the epoch, or None for a value that is not a MicroTime."""
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


class LeaseBusy(LockHeld):
    """Another controller holds the environment's lease (exit 2)."""


class LeaseLost(KubernetesError):
    """Our lease was taken over or could not be renewed in time: stop acting."""


class LeaseLock:
    """The lease ``name`` in ``namespace``."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        name: str,
        holder: str,
        duration: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.namespace, self.name = client, namespace, name
        self.holder, self.duration, self.now = holder, max(1, round(duration)), now
        self.lost: str = ""

    def acquire(self) -> None:
        """Take the lease when it is free, ours or expired; LeaseBusy otherwise."""
        current = self.client.get("Lease", self.namespace, self.name)
        now = self.now()
        if current is None:
            body = self._body(now, acquired=now)
            try:
                self.client.create(body)
            except KubernetesError as exc:
                if exc.status == 409:
                    raise self._busy("another controller took it just now") from exc
                raise
            return
        spec: dict[str, Any] = current.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        if holder and holder != self.holder and not self._expired(spec, now):
            raise self._busy(holder)
        body = self._body(now, acquired=now)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        body["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
            1 if holder and holder != self.holder else 0
        )
        try:
            self.client.replace(body)
        except KubernetesError as exc:
            if exc.status == 409:
                raise self._busy("another controller took it over first") from exc
            raise

    def renew(self) -> None:
        """Extend our lease; LeaseLost when someone else holds it now."""
        current = self.client.get("Lease", self.namespace, self.name)
        spec: dict[str, Any] = (current or {}).get("spec") or {}
        if current is None or spec.get("holderIdentity") != self.holder:
            raise LeaseLost(f"the lease {self.namespace}/{self.name} is no longer ours")
        spec["renewTime"] = micro_time(self.now())
        current["spec"] = spec
        try:
            self.client.replace(current)
        except KubernetesError as exc:
            if exc.status == 409:
                raise LeaseLost(f"the lease {self.namespace}/{self.name} changed hands") from exc
            raise

    def release(self) -> None:
        """Give the lease up (only when it is still ours)."""
        current = self.client.get("Lease", self.namespace, self.name)
        spec: dict[str, Any] = (current or {}).get("spec") or {}
        if current is None or spec.get("holderIdentity") != self.holder:
            return
        spec.pop("holderIdentity", None)
        spec.pop("renewTime", None)
        current["spec"] = spec
        try:
            self.client.replace(current)
        except KubernetesError:
            return  # an unreleased lease expires by itself

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lease, renewed in the background, for the duration of the block."""
        self.acquire()
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew_until, args=(stop,), daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join(timeout=30)
            self.release()

    def _renew_until(self, stop: threading.Event) -> None:
        while not stop.wait(self.duration / RENEWALS_PER_LEASE):
            try:
                self.renew()
            except LeaseLost as exc:
                self.lost = str(exc)
                return
            except KubernetesError:
                continue  # the next renewal may get through before the lease expires

    def _expired(self, spec: dict[str, Any], now: float) -> bool:
        renewed = parse_micro_time(str(spec.get("renewTime") or spec.get("acquireTime") or ""))
        duration = int(spec.get("leaseDurationSeconds") or self.duration)
        # A time that cannot be read never counts as expired: fail closed.
        return renewed is not None and now > renewed + duration

    def _body(self, now: float, acquired: float) -> dict[str, Any]:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": self.duration,
                "acquireTime": micro_time(acquired),
                "renewTime": micro_time(now),
            },
        }

    def _busy(self, holder: str) -> LeaseBusy:
        return LeaseBusy(
            f"another deploy of this environment holds the lease "
            f"{self.namespace}/{self.name} ({holder})",
            hint="wait for it, or see `pipelines status`; a killed controller's lease "
            f"expires after {self.duration} s and `pipelines deploy --resume` or "
            "`pipelines rollback` takes over",
        )
