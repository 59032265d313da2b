"""Allow ``python -m pipelines``; also the ``pipelines`` console script."""

from __future__ import annotations

EXIT_INTERRUPTED = 130  # pipelines.errors' value: that module is not imported yet


def run() -> int:
    """Import the command line and run it; Ctrl-C while it loads is an interrupt, never a
    traceback."""
    try:
        from pipelines.cli import main  # noqa: PLC0415 - a Ctrl-C while loading is caught
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
