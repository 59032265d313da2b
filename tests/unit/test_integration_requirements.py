"""In CI a missing integration dependency fails the run instead of skipping silently."""

from __future__ import annotations

import pytest

from tests.integration.servers import need


def test_a_missing_server_skips_on_a_laptop() -> None:
    with pytest.raises(pytest.skip.Exception):
        need("no-such-server-4711", {})


def test_a_missing_server_fails_in_ci() -> None:
    with pytest.raises(pytest.fail.Exception, match="CI=true: no-such-server-4711"):
        need("no-such-server-4711", {"CI": "true"})
