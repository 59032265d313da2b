"""A small typed client of the Kubernetes API over httpx: get, list, server-side apply (with
dry-run), merge patches, create, replace and delete of the few kinds the SDK manages.

Why not the official client: the SDK touches eight kinds through six verbs, while the
official package is tens of thousands of lines of generated, untyped code with its own HTTP
stack and authentication plugins; httpx is already a dependency and keeps ``mypy --strict``
meaningful. Errors from the API become ``KubernetesError`` here, at one boundary.
"""

from __future__ import annotations

import json
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pipelines.deploy.kubernetes.kubeconfig import Credentials
from pipelines.deploy.target import TargetError

FIELD_MANAGER = "portable-pipelines"
Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """Where objects of one kind live in the API."""

    group_version: str  # "v1" or "apps/v1"
    plural: str
    namespaced: bool = True


KINDS: dict[str, Kind] = {
    "Namespace": Kind("v1", "namespaces", namespaced=False),
    "Service": Kind("v1", "services"),
    "ConfigMap": Kind("v1", "configmaps"),
    "Pod": Kind("v1", "pods"),
    "Deployment": Kind("apps/v1", "deployments"),
    "ReplicaSet": Kind("apps/v1", "replicasets"),
    "Lease": Kind("coordination.k8s.io/v1", "leases"),
    "CustomResourceDefinition": Kind(
        "apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False
    ),
    "HTTPRoute": Kind("gateway.networking.k8s.io/v1", "httproutes"),
    "Gateway": Kind("gateway.networking.k8s.io/v1", "gateways"),
    "Rollout": Kind("argoproj.io/v1alpha1", "rollouts"),
    "AnalysisTemplate": Kind("argoproj.io/v1alpha1", "analysistemplates"),
}


class KubernetesError(TargetError):
    """The API refused a request or could not be reached."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def path_of(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The API path of a collection (no name) or of one object."""
    spec = KINDS[kind]
    root = "/api/v1" if spec.group_version == "v1" else f"/apis/{spec.group_version}"
    parts = [root]
    if spec.namespaced:
        if not namespace:
            raise ValueError(f"{kind} is namespaced: a namespace is needed")
        parts += ["namespaces", namespace]
    parts.append(spec.plural)
    if name:
        parts.append(name)
    return "/".join(parts)


def object_path(obj: Mapping[str, Any]) -> str:
    """The API path of a manifest."""
    meta = obj.get("metadata") or {}
    return path_of(str(obj["kind"]), meta.get("namespace"), str(meta["name"]))


class KubeClient:
    """Requests to one API server with one identity."""

    def __init__(self, credentials: Credentials, timeout: float = 30.0) -> None:
        self.credentials = credentials
        headers = {"Accept": "application/json"}
        if credentials.token:
            headers["Authorization"] = f"Bearer {credentials.token}"
        self._http = httpx.Client(
            base_url=credentials.server,
            headers=headers,
            timeout=timeout,
            verify=_tls(credentials),
            trust_env=False,  # the cluster's address, never a proxy from the environment
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Obj:
        """One request; the decoded answer, or KubernetesError naming what was refused."""
        content = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else {}
        try:
            response = self._http.request(
                method, path, content=content, headers=headers, params=dict(params or {})
            )
        except httpx.HTTPError as exc:
            raise KubernetesError(
                f"the Kubernetes API at {self.credentials.server} did not answer: {exc}"
            ) from exc
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.status_code >= 400:
            message = str(answer.get("message") or response.reason_phrase)
            raise KubernetesError(
                f"{method} {path}: {response.status_code} {message}",
                status=response.status_code,
                reason=str(answer.get("reason", "")),
            )
        return answer

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", path_of(kind, namespace, name))
        except KubernetesError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str | None, selector: str | None = None) -> list[Obj]:
        """Objects of ``kind`` matching the label selector."""
        params = {"labelSelector": selector} if selector else None
        answer = self.request("GET", path_of(kind, namespace), params=params)
        return [item for item in answer.get("items") or [] if isinstance(item, dict)]

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> Obj:
        """Server-side apply: the fields this manager owns become exactly ``obj``'s."""
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        return self.request(
            "PATCH",
            object_path(obj),
            body=obj,
            content_type="application/apply-patch+yaml",
            params=params,
        )

    def merge_patch(
        self, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any],
        *, subresource: str = "",
    ) -> Obj:  # fmt: skip
        """A JSON merge patch (of the object, or of a subresource such as ``status``)."""
        path = path_of(kind, namespace, name) + (f"/{subresource}" if subresource else "")
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def create(self, obj: Mapping[str, Any]) -> Obj:
        """Create; a KubernetesError with status 409 when it exists."""
        meta = obj.get("metadata") or {}
        return self.request("POST", path_of(str(obj["kind"]), meta.get("namespace")), body=obj)

    def replace(self, obj: Mapping[str, Any]) -> Obj:
        """Replace; with ``metadata.resourceVersion`` set, 409 when someone changed it since."""
        return self.request("PUT", object_path(obj), body=obj)

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        """Delete (dependents in the background); False when it did not exist."""
        try:
            self.request(
                "DELETE",
                path_of(kind, namespace, name),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": "Background",
                },
            )
        except KubernetesError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _tls(credentials: Credentials) -> ssl.SSLContext | bool:
    if not credentials.server.startswith("https://"):
        return False
    context = ssl.create_default_context()
    if credentials.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif credentials.ca_pem:
        context = ssl.create_default_context(cadata=credentials.ca_pem)
    if credentials.client_cert_pem and credentials.client_key_pem:
        # ssl loads a client certificate only from files: a private directory, gone at once.
        with tempfile.TemporaryDirectory(prefix="pipelines-kube-") as private:
            cert, key = Path(private) / "cert.pem", Path(private) / "key.pem"
            cert.write_text(credentials.client_cert_pem, encoding="ascii")
            key.touch(mode=0o600)
            key.write_text(credentials.client_key_pem, encoding="ascii")
            context.load_cert_chain(cert, key)
    return context
