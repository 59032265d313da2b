"""What a deploy passes before anything starts: an open gate decision for the environment,
and approval where the environment requires it. Each guard returns a typed value for the
evidence, or refuses (exit 1) naming what is missing; nothing unreadable or ambiguous ever
lets a deploy through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines import codec
from pipelines.actor import actor
from pipelines.artifacts import manifests
from pipelines.codec import DamagedFile
from pipelines.config.deploy import Approval
from pipelines.deploy.environment import DeployEnv
from pipelines.deploy.records import ApprovalRecord, GateRecord
from pipelines.errors import EXIT_FAILED, PipelineError
from pipelines.gate.rules import GateDecision, GateStatus
from pipelines.layout import DECISION, DECISION_ARTIFACT, logical
from pipelines.source_tree import TreeState

APPROVED_BY_ENV = "PIPELINES_APPROVED_BY"


class DeployRefused(PipelineError):
    """A deploy that must not start: no open gate decision, no approval."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class FoundDecision:
    """The newest gate decision for an environment and where it was read."""

    path: Path
    decision: GateDecision
    run_id: str | None  # None: the working copy's reports/, not a kept run


def newest_decision(denv: DeployEnv) -> FoundDecision | None:
    """The newest gate decision for the environment: kept runs newest first, then the
    working copy's report. A decision that exists but cannot be read refuses the deploy
    (an older open decision never stands in for a newer one nobody can read)."""
    candidates: list[tuple[Path, str | None]] = [
        (manifest.parent / DECISION_ARTIFACT, manifest.parent.name)
        for manifest in reversed(manifests(denv.layout.artifacts))
    ]
    candidates.append((denv.layout.report(logical("gate", DECISION)), None))
    for path, run_id in candidates:
        if not path.exists() and not path.is_symlink():
            continue  # a run without a gate stage decided nothing
        try:
            decision = codec.read(path, GateDecision)
        except DamagedFile as exc:
            raise DeployRefused(
                f"the newest gate decision cannot be read ({exc.message}); no older decision "
                "stands in for it",
                hint=f"run `pipelines run --env {denv.environment.name}` again (or deploy with "
                "--force --reason WHY, which is audited)",
            ) from None
        if decision.env == denv.environment.name:
            return FoundDecision(path, decision, run_id)
    return None


def require_open_gate(denv: DeployEnv, current: TreeState | None = None) -> GateRecord:
    """The newest gate decision for this environment, which must be open and, when
    ``current`` is given, have judged that commit and tree."""
    env = denv.environment.name
    found = newest_decision(denv)
    if found is None:
        raise DeployRefused(
            f"no gate decision for environment {env!r} in {denv.layout.artifacts} "
            f"or {denv.layout.report(logical('gate', DECISION))}",
            hint=f"run `pipelines run --env {env}` first (or deploy with --force "
            "--reason WHY, which is audited)",
        )
    if found.decision.status is not GateStatus.OPEN:
        reasons = "; ".join(found.decision.reasons) or "closed"
        raise DeployRefused(
            f"the gate decision {found.path} is closed for {env!r}: {reasons}",
            hint="fix the pipeline and run it again (or --force --reason WHY, audited)",
        )
    judged = found.decision.release
    if current is not None:
        _require_same_release(found.path, judged, current, env)
    return GateRecord(
        path=str(found.path),
        run_id=found.run_id,
        status=found.decision.status.value,
        commit=judged.commit if judged else "",
        tree=judged.tree if judged else "",
        dirty=judged.dirty if judged else None,
    )


def _require_same_release(
    path: Path, judged: TreeState | None, current: TreeState, env: str
) -> None:
    """The decision opens the way for the tree it judged, and for nothing else."""
    again = f"run `pipelines run --env {env}` on this tree (or --force --reason WHY, audited)"
    if judged is None:
        raise DeployRefused(
            f"the gate decision {path} does not record the commit and tree it judged "
            "(written by an earlier version), so it cannot vouch for this release",
            hint=again,
        )
    if judged.commit != current.commit or judged.tree != current.tree:
        raise DeployRefused(
            f"the gate decision {path} judged commit {judged.commit[:12]} (tree "
            f"{judged.tree[:12]}), but this release is commit {current.commit[:12]} (tree "
            f"{current.tree[:12]})",
            hint=again,
        )


def require_approval(denv: DeployEnv, confirm: Callable[[str], bool] | None) -> ApprovalRecord:
    """Approval where the environment requires it: from the CI platform (the environment),
    else a person at a terminal; otherwise refuse (fail closed)."""
    if denv.environment.deploy.approval is Approval.NONE:
        return ApprovalRecord(required=False)
    who = denv.environ.get(APPROVED_BY_ENV)
    if who:
        run = denv.environ.get("GITHUB_RUN_ID") or denv.environ.get("CI_PIPELINE_ID")
        return ApprovalRecord(required=True, by=who, via="ci", run=run)
    question = f"Deploy to {denv.environment.name}? Type the environment's name to approve"
    if confirm is not None and confirm(question):
        return ApprovalRecord(required=True, by=actor(denv.environ), via="terminal")
    raise DeployRefused(
        f"environment {denv.environment.name!r} requires approval and none was given",
        hint=f"approve at a terminal, or in CI set {APPROVED_BY_ENV} (for example from a "
        "GitHub Environment with required reviewers)",
    )
