"""portable-pipelines: one pipeline definition, run alike on a laptop, in Docker or in Dagger."""

import importlib.util

__version__ = "0.1.0"

# The run lock, the audit log and environment builds rely on POSIX file locks (fcntl): the
# SDK supports Linux and macOS, and says so on import instead of failing halfway into a run.
if importlib.util.find_spec("fcntl") is None:  # pragma: no cover - Linux and macOS have it
    raise ImportError(
        "portable-pipelines runs on Linux and macOS (it needs POSIX file locks, the fcntl "
        "module); on Windows, run it in WSL or in a container"
    )
