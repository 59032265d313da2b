"""Pure: the Argo Rollouts hand-off. A ``Rollout`` and its ``AnalysisTemplate``s rendered from
the same pipeline.yaml settings as every other target, and the Rollout's ``.status`` read back
as our outcome.

What maps (docs/kubernetes.md has the table): canary ``steps`` become ``setWeight`` steps, each
followed by the analysis (or a pause when no Prometheus queries are configured), and a
``{pause: ...}`` step becomes Argo's ``pause``; blue-green uses the stable and canary Services
as active and preview, ``pre_promotion_analysis``/``post_promotion_analysis`` as
``prePromotionAnalysis``/``postPromotionAnalysis``, ``auto_promote`` as
``autoPromotionEnabled`` and ``keep_old_for`` as ``scaleDownDelaySeconds``; the analysis
limits become ``failureLimit``/``inconclusiveLimit``/``consecutiveErrorLimit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipelines.config.deploy import (
    AnalysisSettings,
    CanaryPause,
    DeploySettings,
    StrategyKind,
    Threshold,
)
from pipelines.deploy.kubernetes.manifests import Obj, Scope, pod_template
from pipelines.errors import UsageError

ARGO = "argoproj.io/v1alpha1"
VERSION_ARG = "{{args.version}}"


def _queries(scope: Scope, analysis: AnalysisSettings) -> list[tuple[str, str, str, Threshold]]:
    # (template, metric, query, threshold) for each query that has both a query and a limit.
    found = []
    if analysis.prometheus and analysis.error_rate_query and analysis.max_error_rate:
        found.append(
            (
                f"{scope.app}-error-rate",
                "error-rate-percent",
                analysis.error_rate_query,
                analysis.max_error_rate,
            )
        )
    if analysis.prometheus and analysis.latency_query and analysis.max_p95_ms:
        found.append(
            (f"{scope.app}-latency", "latency-p95-ms", analysis.latency_query, analysis.max_p95_ms)
        )
    return found


def template_names(scope: Scope, analysis: AnalysisSettings) -> list[str]:
    """The AnalysisTemplates a Rollout refers to (none without Prometheus queries)."""
    return [name for name, *_ in _queries(scope, analysis)]


def analysis_templates(scope: Scope, analysis: AnalysisSettings) -> list[Obj]:
    """One AnalysisTemplate per configured Prometheus query, with our thresholds and limits."""
    found = []
    for name, metric_name, query, threshold in _queries(scope, analysis):
        metric: Obj = {
            "name": metric_name,
            "interval": _duration(analysis.interval),
            "count": analysis.count,
            "failureLimit": analysis.failure_limit,
            "inconclusiveLimit": analysis.inconclusive_limit,
            "consecutiveErrorLimit": analysis.error_limit,
            "successCondition": _condition(threshold, passing=True),
            "failureCondition": _condition(threshold, passing=False),
            "provider": {
                "prometheus": {
                    "address": analysis.prometheus,
                    "query": query.replace("{version}", VERSION_ARG),
                }
            },
        }
        found.append(
            {
                "apiVersion": ARGO,
                "kind": "AnalysisTemplate",
                "metadata": scope.metadata(name),
                "spec": {"args": [{"name": "version"}], "metrics": [metric]},
            }
        )
    return found


def rollout(
    scope: Scope,
    deploy: DeploySettings,
    *,
    strategy: StrategyKind,
    release: str,
    version: str,
    step_pause: float,
) -> Obj:
    """The Rollout that takes the environment to ``release`` with ``strategy``."""
    templates = [{"templateName": name} for name in template_names(scope, deploy.analysis)]
    pod = pod_template(scope, release, version, {})
    # Argo owns the pods' hash label; the release label moves with the template.
    selector = scope.selector()
    stable, canary = scope.service_name("stable"), scope.service_name("canary")
    match strategy:
        case StrategyKind.CANARY:
            steps: list[Obj] = []
            for weight in deploy.steps:
                if isinstance(weight, CanaryPause):  # Argo's own pause; {} waits for promote
                    pause: Obj = {}
                    if weight.pause is not None:
                        pause = {"duration": _duration(weight.pause)}
                    steps.append({"pause": pause})
                    continue
                if weight >= 100:
                    break
                steps.append({"setWeight": _whole_percent(weight)})
                if templates:
                    steps.append({"analysis": {"templates": templates}})
                else:
                    steps.append({"pause": {"duration": _duration(step_pause)}})
            plan: Obj = {
                "canary": {"stableService": stable, "canaryService": canary, "steps": steps}
            }
        case StrategyKind.BLUE_GREEN:
            blue_green: Obj = {
                "activeService": stable,
                "previewService": canary,
                "autoPromotionEnabled": deploy.auto_promote,
                "scaleDownDelaySeconds": math.ceil(deploy.keep_old_for),
            }
            if templates and deploy.pre_promotion_analysis:
                blue_green["prePromotionAnalysis"] = {"templates": templates}
            if templates and deploy.post_promotion_analysis:
                blue_green["postPromotionAnalysis"] = {"templates": templates}
            plan = {"blueGreen": blue_green}
        case StrategyKind.ROLLING:
            raise UsageError(
                "the argo-rollouts router runs canary and blue-green deploys; Argo Rollouts "
                "has no rolling strategy of its own",
                hint="use strategy: canary (a rolling update is a canary with steps [100]) "
                "or router: gateway-api / replicas",
            )
    return {
        "apiVersion": ARGO,
        "kind": "Rollout",
        "metadata": scope.metadata(scope.app),
        "spec": {
            "replicas": deploy.instances,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "template": pod,
            "strategy": plan,
        },
    }


class ArgoPhase(StrEnum):
    """``status.phase`` of a Rollout, as the Argo Rollouts documentation defines it."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    DEGRADED = "Degraded"


class Reading(StrEnum):
    """What a Rollout's status means for a deploy that follows it."""

    SUCCEEDED = "succeeded"
    WAITING = "waiting"  # still progressing: look again
    PAUSED = "paused"  # waits for a person (promote or abort)
    ROLLED_BACK = "rolled-back"  # aborted or degraded: Argo went back to the stable pods


@dataclass(frozen=True)
class RolloutStatus:
    """A Rollout's status read for one generation of its spec."""

    reading: Reading
    phase: str
    message: str


def read_status(obj: Obj) -> RolloutStatus:
    """Map ``.status`` to our outcome. A status written for an older spec, or a phase this
    code does not know, is still waiting: nothing opens on an ambiguous answer."""
    status: dict[str, Any] = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    phase = str(status.get("phase") or "")
    message = str(status.get("message") or "")
    if str(status.get("observedGeneration") or "") != str(meta.get("generation") or ""):
        return RolloutStatus(Reading.WAITING, phase, "the controller has not seen this spec yet")
    if status.get("abort") or phase == ArgoPhase.DEGRADED:
        return RolloutStatus(Reading.ROLLED_BACK, phase, message or "the rollout was aborted")
    if phase == ArgoPhase.PAUSED and not status.get("pauseConditions"):
        # promoted: the controller has not moved on yet
        return RolloutStatus(Reading.WAITING, phase, "promoted; waiting for the controller")
    readings: dict[str, Reading] = {
        ArgoPhase.HEALTHY.value: Reading.SUCCEEDED,
        ArgoPhase.PAUSED.value: Reading.PAUSED,
        ArgoPhase.PROGRESSING.value: Reading.WAITING,
    }
    return RolloutStatus(
        readings.get(phase, Reading.WAITING),
        phase,
        message or ("" if phase in readings else f"phase {phase or 'not set'}"),
    )


def _condition(threshold: Threshold, *, passing: bool) -> str:
    # Argo's conditions are expr expressions over `result` (a vector: its first sample).
    op: str = threshold.op
    if passing:
        op = "<" if op == ">=" else "<="
    return f"result[0] {op} {threshold.value:g}"


def _duration(seconds: float) -> str:
    whole = math.ceil(seconds)
    return f"{whole}s"


def _whole_percent(weight: float) -> int:
    # setWeight takes whole percents: 12.5 rounds to 13, never to 0 or 100.
    return min(99, max(1, round(weight)))
