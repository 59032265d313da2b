"""Which deploys this module can run, and where their state lives.

The engine's init is PID 1 of every exec and kills every process left in it when the command
returns: a release started inside an exec (a ``local`` instance, the nginx router of the
``local`` and ``docker`` targets) dies with it, and the PIDs it recorded name a pid namespace
that no longer exists. So only targets whose instances, router and state live outside the
exec can be deployed from here; the others are refused before anything starts, and a
rollback drill (which starts and stops everything inside one exec) runs with state of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from ci.verdicts import DeployRefusedError

# Target kinds whose releases outlive the exec that deployed them: a cluster target keeps its
# releases, its router and its state (journal head, stable release, the lock) in the cluster.
OUTLIVES_EXEC = frozenset({"kubernetes"})
# Prints the deploy targets of an environment, {"name": "kind"}, from the project's config:
# run by the toolchain's own Python, so this module still never imports the SDK.
TARGETS_SCRIPT = """\
import json, sys
from pathlib import Path
from pipelines.config.pipeline import load_config
from pipelines.errors import PipelineError
try:
    config = load_config(Path.cwd(), Path(sys.argv[2]) if sys.argv[2] else None)
    targets = config.environment(sys.argv[1]).deploy.targets
except PipelineError as exc:
    print(json.dumps({"error": exc.message}))
else:
    print(json.dumps({"targets": {t.name: str(t.kind) for t in targets}}))
"""
STATE_ROOT = "/state"
STATE_CACHE = "portable-pipelines-deploy-state"


def targets_argv(env: str, config: str | None) -> list[str]:
    """The argv that prints the environment's targets (``TARGETS_SCRIPT``)."""
    return ["python", "-c", TARGETS_SCRIPT, env, config or ""]


def parse_targets(printed: str) -> dict[str, str]:
    """The targets ``TARGETS_SCRIPT`` printed; its error (a config error) is raised."""
    try:
        data = json.loads(printed)
    except ValueError as exc:
        raise DeployRefusedError(f"the deploy targets could not be read: {exc}") from exc
    if not isinstance(data, dict) or "targets" not in data:
        message = data.get("error") if isinstance(data, dict) else None
        raise DeployRefusedError(str(message or "the deploy targets could not be read"))
    return {str(name): str(kind) for name, kind in dict(data["targets"]).items()}


def refuse_ephemeral(env: str, targets: Mapping[str, str]) -> None:
    """Raise unless every target of ``env`` outlives the exec, naming those that do."""
    dying = sorted(
        f"{name} ({kind})" for name, kind in targets.items() if kind not in OUTLIVES_EXEC
    )
    if dying:
        raise DeployRefusedError(
            f"environment {env!r}: target {', '.join(dying)} cannot be deployed through "
            "Dagger: the engine stops every process of an exec when it returns, so its "
            "instances and nginx router would die with it. Targets that outlive the exec: "
            f"{', '.join(sorted(OUTLIVES_EXEC))}. Deploy this environment from its host with "
            "`pipelines deploy`; `rollback-drill` runs fully in Dagger."
        )


def state_dir(project: str) -> str:
    """Where one project's deploy state (journals, audit log) lives in the state volume.

    Cache volumes are namespaced by module, not by caller, so projects calling this module
    would share one volume: each gets a directory named by its own ``project`` name.
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]", "-", project).strip("-.")[:60] or "project"
    digest = hashlib.sha256(project.encode()).hexdigest()[:12]
    return f"{STATE_ROOT}/{slug}-{digest}"
