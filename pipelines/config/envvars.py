"""``${NAME}`` in configuration, filled from the environment with one policy: a variable that
is not set is an error naming it, never an empty string (``Bearer `` would then fail with a
401 that hides the cause)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipelines.errors import UsageError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, environ: Mapping[str, str], where: str) -> str:
    """``text`` with every ``${NAME}`` replaced; unset or empty names are a UsageError."""
    missing = sorted({name for name in PLACEHOLDER.findall(text) if not environ.get(name)})
    if missing:
        raise UsageError(
            f"{where}: set {', '.join(missing)} in the environment",
            hint="credentials are read from the environment, never from files",
        )
    return PLACEHOLDER.sub(lambda match: environ[match.group(1)], text)
