"""The cache policies and argument types the module's functions share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import dagger
from dagger import Doc, check, function

F = TypeVar("F", bound=Callable[..., Any])
Env = Annotated[str, Doc("Environment of the plan")]
DeployEnvName = Annotated[str, Doc("Environment whose releases this acts on")]
Reason = Annotated[str | None, Doc("Why (written to the audit log)")]
AuditKey = Annotated[dagger.Secret | None, Doc("Key that signs audit entries")]


def as_check(func: F) -> F:
    """Mark a function as a ``dagger check`` (dagger-io types its decorator as a union)."""
    return cast(F, check(func))


# dagger-io's overloads of `function` omit `cache`, which the implementation accepts.
_function_with_options = cast(Callable[..., Callable[[F], F]], function)


def never_cached(func: F) -> F:
    """A function with side effects or live answers: its result never comes from cache."""
    return _function_with_options(cache="never")(func)


def per_session(func: F) -> F:
    """A function whose body must run on every call (it computes the day and the nonces its
    stages need): without a policy the engine serves its result for up to a week. Stages
    whose inputs did not change still come from the exec cache."""
    return _function_with_options(cache="session")(func)
