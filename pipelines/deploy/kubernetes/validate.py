"""Checks before the cluster: every rendered object against the Kubernetes schemas of a range
of versions (``kubernetes-validate --strict``: unknown fields are errors) and every custom
resource against the project's own CRDs of exactly the fields it writes (strict as well).

Both libraries come with the ``portable-pipelines[kubernetes]`` extra; without it the check
says which extra to install instead of failing on an import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from pipelines.deploy.kubernetes.manifests import Obj
from pipelines.errors import UsageError

# The Kubernetes versions every object is checked against (kubernetes-validate ships these).
OLDEST, NEWEST = (1, 25), (1, 37)
EXTRA = "portable-pipelines[kubernetes]"
CRD_FILES = (
    "httproutes.gateway.networking.k8s.io.yaml",
    "rollouts.argoproj.io.yaml",
    "analysistemplates.argoproj.io.yaml",
)


@dataclass(frozen=True)
class Problem:
    """One object that a schema refuses."""

    object: str  # kind/name
    schema: str  # "Kubernetes 1.30" or "CRD rollouts.argoproj.io"
    message: str

    def __str__(self) -> str:
        return f"{self.object}: {self.schema}: {self.message}"


def versions() -> list[str]:
    """Every minor version in the checked range."""
    return [f"1.{minor}" for minor in range(OLDEST[1], NEWEST[1] + 1)]


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(
            f"checking Kubernetes manifests needs the {module.replace('_', '-')} package",
            hint=f"pip install '{EXTRA}'",
        ) from exc


@cache
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    """Our CRDs' schemas by (apiVersion, kind)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    folder = resources.files("pipelines.deploy.kubernetes") / "crds"
    for name in CRD_FILES:
        crd = yaml.safe_load(folder.joinpath(name).read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            found[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return found


def crd_documents() -> list[Obj]:
    """The CRDs themselves, for a cluster that lacks them (and for the tests)."""
    folder = resources.files("pipelines.deploy.kubernetes") / "crds"
    return [yaml.safe_load(folder.joinpath(n).read_text(encoding="utf-8")) for n in CRD_FILES]


def check(objects: list[Obj]) -> list[Problem]:
    """Every problem the schemas find (an empty list: every object is valid)."""
    problems: list[Problem] = []
    for obj in objects:
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        name = f"{key[1]}/{(obj.get('metadata') or {}).get('name', '?')}"
        if key in crds():
            problems += _check_custom(obj, name, crds()[key])
        else:
            problems += _check_core(obj, name)
    return problems


def _check_core(obj: Obj, name: str) -> list[Problem]:
    validator = _require("kubernetes_validate")
    for version in versions():
        try:
            validator.validate(obj, version, True)
        except validator.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path) or "(top)"
            return [Problem(name, f"Kubernetes {version}", f"{path}: {exc.message}")]
        except (validator.SchemaNotFoundError, validator.InvalidSchemaError) as exc:
            return [Problem(name, f"Kubernetes {version}", str(getattr(exc, "message", exc)))]
    return []


def _check_custom(obj: Obj, name: str, schema: dict[str, Any]) -> list[Problem]:
    jsonschema = _require("jsonschema")
    validator = jsonschema.Draft7Validator(schema)
    found = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
        path = ".".join(str(part) for part in error.path) or "(top)"
        kind = name.split("/", maxsplit=1)[0]
        found.append(Problem(name, f"CRD {kind}", f"{path}: {error.message}"))
    return found


def _strict(schema: Any) -> Any:
    """The CRD schema as a JSON Schema that refuses fields it does not declare (the API
    server would drop them silently instead)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    preserves = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in schema and "additionalProperties" not in schema and not preserves:
        strict["additionalProperties"] = False
    return strict
