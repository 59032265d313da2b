"""Which cluster to talk to and as whom: a kubeconfig file's chosen context, read into declared
types. Only what a client of the API needs is read (server, CA, token or client certificate);
exec and auth-provider plugins are refused with a hint, since they run programs of their own."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from pipelines.errors import ConfigError

KUBECONFIG_ENV = "KUBECONFIG"
MAX_KUBECONFIG_BYTES = 1_000_000


class _Cluster(msgspec.Struct, frozen=True, rename="kebab"):
    server: str
    certificate_authority: str | None = None
    certificate_authority_data: str | None = None
    insecure_skip_tls_verify: bool = False


class _User(msgspec.Struct, frozen=True, rename="kebab"):
    token: str | None = None
    token_file: str | None = msgspec.field(default=None, name="tokenFile")
    client_certificate: str | None = None
    client_certificate_data: str | None = None
    client_key: str | None = None
    client_key_data: str | None = None
    exec: dict[str, object] | None = None
    auth_provider: dict[str, object] | None = None


class _Context(msgspec.Struct, frozen=True):
    cluster: str
    user: str = ""
    namespace: str | None = None


class _NamedCluster(msgspec.Struct, frozen=True):
    name: str
    cluster: _Cluster


class _NamedUser(msgspec.Struct, frozen=True):
    name: str
    user: _User = _User()


class _NamedContext(msgspec.Struct, frozen=True):
    name: str
    context: _Context


class KubeconfigFile(msgspec.Struct, frozen=True, rename="kebab"):
    """The parts of a kubeconfig file a client reads."""

    clusters: list[_NamedCluster] = []
    users: list[_NamedUser] = []
    contexts: list[_NamedContext] = []
    current_context: str = ""


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to authenticate to it. PEM data stays in memory."""

    server: str
    token: str | None = None
    ca_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    insecure: bool = False
    namespace: str | None = None
    source: str = ""


def kubeconfig_path(environ: Mapping[str, str], configured: str | None = None) -> Path:
    """The configured file, else the first entry of $KUBECONFIG, else ~/.kube/config."""
    if configured:
        return Path(configured).expanduser()
    listed = environ.get(KUBECONFIG_ENV, "")
    if listed:
        return Path(listed.split(os.pathsep)[0]).expanduser()
    return Path(environ.get("HOME", "~")).expanduser() / ".kube" / "config"


def load_credentials(path: Path, context: str | None = None) -> Credentials:
    """The credentials of ``context`` (default: the file's current context) in ``path``."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{where}: cannot read the kubeconfig: {exc.strerror or exc}",
            hint=f"set {KUBECONFIG_ENV} or the target's kubeconfig to a readable file",
        ) from exc
    if len(raw) > MAX_KUBECONFIG_BYTES:
        raise ConfigError(f"{where}: the kubeconfig is larger than 1 MB")
    try:
        parsed = yaml.safe_load(raw)
        config = msgspec.convert(parsed, KubeconfigFile)
    except (yaml.YAMLError, msgspec.ValidationError) as exc:
        raise ConfigError(
            f"{where}: not a kubeconfig: {str(exc).splitlines()[0]}",
            hint="`kubectl config view` shows what a valid one looks like",
        ) from exc
    name = context or config.current_context
    contexts = {item.name: item.context for item in config.contexts}
    if name not in contexts:
        raise ConfigError(
            f"{where}: no context {name!r} (contexts: {', '.join(sorted(contexts)) or 'none'})",
            hint="name an existing context in the target's `context`, or set current-context",
        )
    chosen = contexts[name]
    clusters = {item.name: item.cluster for item in config.clusters}
    users = {item.name: item.user for item in config.users}
    if chosen.cluster not in clusters:
        raise ConfigError(
            f"{where}: context {name!r} names cluster {chosen.cluster!r}, not defined"
        )
    cluster = clusters[chosen.cluster]
    user = users.get(chosen.user, _User())
    if user.exec is not None or user.auth_provider is not None:
        raise ConfigError(
            f"{where}: user {chosen.user!r} authenticates through a plugin (exec/auth-provider)",
            hint="give the deploy a token or a client certificate (for example a service "
            "account's token) in its kubeconfig",
        )
    if not cluster.server.startswith("https://") and not cluster.server.startswith("http://"):
        raise ConfigError(f"{where}: cluster {chosen.cluster!r} has no http(s) server address")
    base = path.parent
    return Credentials(
        server=cluster.server.rstrip("/"),
        token=_token(user, base, where),
        ca_pem=_pem(cluster.certificate_authority_data, cluster.certificate_authority, base, where),
        client_cert_pem=_pem(user.client_certificate_data, user.client_certificate, base, where),
        client_key_pem=_pem(user.client_key_data, user.client_key, base, where),
        insecure=cluster.insecure_skip_tls_verify,
        namespace=chosen.namespace,
        source=f"{where} (context {name})",
    )


def _token(user: _User, base: Path, where: str) -> str | None:
    if user.token:
        return user.token
    if user.token_file:
        return _read(base / user.token_file, where).strip()
    return None


def _pem(data: str | None, file: str | None, base: Path, where: str) -> str | None:
    if data:
        try:
            return base64.b64decode(data, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: a *-data field is not base64 PEM") from exc
    if file:
        return _read(base / file, where)
    return None


def _read(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read {path}, which the kubeconfig names") from exc
