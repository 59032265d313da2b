"""Builders for JUnit XML documents used by the tests and the benchmarks' sanity checks."""

from __future__ import annotations


def case(name: str, classname: str = "tests.test_mod", body: str = "", file: str = "") -> str:
    """One ``<testcase>``; ``body`` holds failure/error/skipped children."""
    file_attr = f' file="{file}"' if file else ""
    return (
        f'<testcase classname="{classname}" name="{name}"{file_attr} time="0.01">{body}</testcase>'
    )


FAIL = '<failure message="assert 1 == 2">trace</failure>'
ERROR = '<error message="fixture broke">trace</error>'
SKIP = '<skipped message="not on linux"/>'


def suites(*cases: str) -> str:
    """Wrap cases the way pytest does: ``<testsuites><testsuite>``."""
    body = "".join(cases)
    return f'<?xml version="1.0"?><testsuites><testsuite name="p">{body}</testsuite></testsuites>'
