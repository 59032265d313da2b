"""Reading a kubeconfig: the chosen context's server and credentials, and errors that name
the file and what to change (exit 2, never an internal error)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from pipelines.deploy.kubernetes.kubeconfig import kubeconfig_path, load_credentials
from pipelines.errors import ConfigError

CONTEXT = {"cluster": "prod", "user": "deployer", "namespace": "shop"}
TOKEN = "not-a-secret"  # noqa: S105 - a test value


def write(path: Path, user: dict[str, object], context: str = "ci") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "prod",
                        "cluster": {
                            "server": "https://10.0.0.1:6443/",
                            "certificate-authority-data": base64.b64encode(b"PEM").decode(),
                        },
                    }
                ],
                "users": [{"name": "deployer", "user": user}],
                "contexts": [{"name": "ci", "context": CONTEXT}],
                "current-context": context,
            }
        )
    )
    return path


def test_the_current_context_gives_server_token_and_ca(tmp_path: Path) -> None:
    credentials = load_credentials(write(tmp_path / "config", {"token": TOKEN}))
    assert credentials.server == "https://10.0.0.1:6443"
    assert credentials.token == TOKEN
    assert credentials.ca_pem == "PEM"
    assert credentials.namespace == "shop"


def test_a_token_file_is_read_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    credentials = load_credentials(write(tmp_path / "config", {"tokenFile": "token"}))
    assert credentials.token == TOKEN


def test_an_unknown_context_names_the_ones_there_are(tmp_path: Path) -> None:
    path = write(tmp_path / "config", {"token": "t"})
    with pytest.raises(ConfigError, match="no context 'staging' \\(contexts: ci\\)"):
        load_credentials(path, "staging")


def test_plugins_that_run_programs_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "config", {"exec": {"command": "aws"}})
    with pytest.raises(ConfigError, match="plugin") as caught:
        load_credentials(path)
    assert "token" in caught.value.hint


@pytest.mark.parametrize("text", ["", "[1, 2]", "clusters: 3", "{{{"])
def test_a_file_that_is_not_a_kubeconfig_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(ConfigError, match=str(path)):
        load_credentials(path)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the kubeconfig") as caught:
        load_credentials(tmp_path / "absent")
    assert "KUBECONFIG" in caught.value.hint


def test_where_the_kubeconfig_is_looked_for() -> None:
    assert kubeconfig_path({"KUBECONFIG": "/a:/b", "HOME": "/h"}) == Path("/a")
    assert kubeconfig_path({"HOME": "/h"}) == Path("/h/.kube/config")
    assert kubeconfig_path({"KUBECONFIG": "/a"}, "/c") == Path("/c")
