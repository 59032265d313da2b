"""Cobertura coverage reading: counts from the root element, never the rounded rates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pipelines.errors import ReportError
from pipelines.readers.safexml import check_prolog, safe_iterparse

if TYPE_CHECKING:  # lxml loads when a report is read (safexml)
    from lxml import etree


class Coverage(msgspec.Struct, frozen=True):
    """Covered and valid lines and branches of one Cobertura report. The percentages are
    computed from the counts (kept in the file for people; recomputed on reading)."""

    source: str = ""
    lines_covered: int = 0
    lines_valid: int = 0
    branches_covered: int = 0
    branches_valid: int = 0
    line_percent: float | None = None
    branch_percent: float | None = None

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "line_percent", self.percent("line"))
        msgspec.structs.force_setattr(self, "branch_percent", self.percent("branch"))

    def percent(self, metric: str) -> float | None:
        """Line or branch coverage in percent; None when there is nothing to measure."""
        covered, valid = (
            (self.lines_covered, self.lines_valid)
            if metric == "line"
            else (self.branches_covered, self.branches_valid)
        )
        return 100.0 * covered / valid if valid else None


def read_coverage(path: Path) -> Coverage:
    """Read the counts on the ``<coverage>`` root; only the first start event is parsed."""
    from lxml import etree  # noqa: PLC0415 - see the import above

    check_prolog(path)
    with path.open("rb") as handle:
        try:
            _event, root = next(iter(safe_iterparse(handle, events=("start",))))
        except StopIteration as exc:
            raise ReportError(str(path), "has no root element") from exc
        except etree.XMLSyntaxError as exc:
            raise ReportError(str(path), f"is not well-formed XML: {exc}") from exc
    if etree.QName(root).localname != "coverage":
        name = etree.QName(root).localname
        raise ReportError(str(path), f"has root <{name}>, expected Cobertura <coverage>")
    coverage = Coverage(
        source=str(path),
        lines_covered=_count(root, "lines-covered", path),
        lines_valid=_count(root, "lines-valid", path),
        branches_covered=_count(root, "branches-covered", path, default=0),
        branches_valid=_count(root, "branches-valid", path, default=0),
    )
    for kind, covered, valid in (
        ("lines", coverage.lines_covered, coverage.lines_valid),
        ("branches", coverage.branches_covered, coverage.branches_valid),
    ):
        if covered > valid:
            # More covered than exist: the report is wrong, and must not pass a gate.
            raise ReportError(
                str(path), f"claims {covered} {kind} covered of {valid} ({kind}-covered > valid)"
            )
    return coverage


def _count(root: etree._Element, name: str, path: Path, default: int | None = None) -> int:
    raw = root.get(name)
    if raw is None:
        if default is not None:
            return default
        raise ReportError(str(path), f"<coverage> has no {name!r} attribute")
    try:
        value = int(raw)
    except ValueError as exc:
        raise ReportError(str(path), f"{name}={raw!r} is not a whole number") from exc
    if value < 0:
        raise ReportError(str(path), f"{name}={raw!r} is negative")
    return value
