"""One vocabulary of severity, in order, for config, findings and the gate."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is, worst first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @classmethod
    def parse(cls, text: object, default: Severity | None = None) -> Severity:
        """A tool's spelling (``HIGH``, ``Medium``) as a Severity; unknown ones are ``default``
        (info unless given)."""
        try:
            return cls(str(text).strip().lower())
        except ValueError:
            return default or cls.INFO


# The severities a gate can put a limit on.
LIMITED = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
