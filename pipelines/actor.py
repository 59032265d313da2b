"""Who is acting: the name every audit entry (flag changes, deploy decisions) records."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping


def actor(environ: Mapping[str, str]) -> str:
    """Who is making a change: PIPELINES_ACTOR, the CI user, or the login name."""
    for name in ("PIPELINES_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN"):
        if environ.get(name):
            return environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
