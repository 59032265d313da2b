"""An OpenFeature provider, so applications read the same flags through the standard API.

    from openfeature import api
    api.set_provider(PipelinesProvider.from_file("flags.yaml", env="production"))
    client = api.get_client()
    client.get_boolean_value("PHASE_4_DEPLOYMENT", False,
                             EvaluationContext(targeting_key=user_id))

The evaluation context's targeting key is the key a rollout buckets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from pipelines.flags.evaluate import Reason as OurReason
from pipelines.flags.evaluate import evaluate
from pipelines.flags.model import FlagSet, load_flags

T = TypeVar("T", bool, str, int, float)
_REASONS = {
    OurReason.STATIC: Reason.STATIC,
    OurReason.DEFAULT: Reason.DEFAULT,
    OurReason.ROLLOUT_IN: Reason.SPLIT,
    OurReason.ROLLOUT_OUT: Reason.SPLIT,
}
_KINDS: dict[type, str] = {bool: "bool", str: "string", int: "int", float: "float"}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PipelinesProvider(AbstractProvider):
    """Flags of one environment from a flags.yaml."""

    def __init__(self, flags: FlagSet, env: str, clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__()
        self.flags, self.env, self.clock = flags, env, clock

    @classmethod
    def from_file(cls, path: str | Path, env: str) -> PipelinesProvider:
        """Load flags.yaml and serve its flags for ``env``."""
        return cls(load_flags(Path(path)), env)

    def get_metadata(self) -> Metadata:
        """The provider's name."""
        return Metadata(name="portable-pipelines")

    def _resolve(
        self, key: str, default: T, context: EvaluationContext | None, kind: type[T]
    ) -> FlagResolutionDetails[T]:
        flag = self.flags.flags.get(key)
        if flag is None:
            return FlagResolutionDetails(
                default, ErrorCode.FLAG_NOT_FOUND, f"no flag {key!r}", Reason.ERROR
            )
        if flag.type != _KINDS[kind]:
            return FlagResolutionDetails(
                default, ErrorCode.TYPE_MISMATCH, f"{key} is a {flag.type} flag", Reason.ERROR
            )
        targeting = context.targeting_key if context is not None else None
        result = evaluate(flag, self.env, self.clock(), targeting)
        value = kind(result.value)
        return FlagResolutionDetails(
            value, reason=_REASONS[result.reason], variant=result.reason.value
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """A boolean flag."""
        return self._resolve(flag_key, default_value, evaluation_context, bool)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """A string flag."""
        return self._resolve(flag_key, default_value, evaluation_context, str)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """An integer flag."""
        return self._resolve(flag_key, default_value, evaluation_context, int)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """A float flag."""
        return self._resolve(flag_key, default_value, evaluation_context, float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Any]:
        """Object flags do not exist in flags.yaml."""
        return FlagResolutionDetails(
            default_value, ErrorCode.TYPE_MISMATCH, "flags.yaml has no object flags", Reason.ERROR
        )
