"""Allow ``python -m pipelines``; also the ``pipelines`` console script."""

from __future__ import annotations

EXIT_INTERRUPTED = 130  # pipelines.errors' value: that module is not imported yet


def run() -> int:
    """Import the command line and run it; Ctrl-C while it loads is an interrupt, never a
    traceback."""
    try:
        from pipelines.cli import main  # noqa: PLC0415 - a Ctrl-C while loading is caught
    except KeyboardInterrupt:
        # Never torn down: a module interrupted half-way through loading (a C extension's
        # among them) can crash the interpreter's teardown.
        _exit_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    code = main()
    _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown of every loaded module: that is a
    tenth of a second of `pipelines run`, and a seventh of a stage process's life. Nothing of
    the SDK's waits for the teardown (every file is closed where it was written); under
    coverage, which saves its data at exit, the process ends the ordinary way."""
    import os  # noqa: PLC0415 - the module keeps its imports for the command line's own
    import sys  # noqa: PLC0415

    if "coverage" in sys.modules:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        return  # the ordinary exit knows how to end with a closed pipe
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(run())
