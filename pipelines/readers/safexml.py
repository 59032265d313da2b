"""Safe streaming XML parsing for reports written by other tools.

Reports never need a DTD, so any document that declares one is refused before lxml sees it:
that closes entity-expansion bombs (billion laughs) and external entities (XXE) in one rule.
Entity resolution, DTD loading and network access stay off as a second line of defence.
``huge_tree`` is on so a legitimate ``<system-out>`` above libxml2's 10 MB text limit parses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

if TYPE_CHECKING:  # lxml loads when a report is read, not in every process that imports this
    from lxml import etree

from pipelines.errors import ReportError

_PROLOG_CHUNK = 64 * 1024
_ROOT_START = re.compile(r"<[A-Za-z_]")


def check_prolog(path: Path) -> None:
    """Refuse empty files and documents that declare a DTD before their root element."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_PROLOG_CHUNK)
            if not head.strip():
                raise ReportError(str(path), "is empty", hint="re-run the tool that writes it")
            text = _decode_prolog(head)
            # A prolog longer than one chunk is rare (long comments); keep reading until the
            # root element starts so a DOCTYPE cannot hide behind it.
            while not _ROOT_START.search(text):
                more = handle.read(_PROLOG_CHUNK)
                if not more:
                    break
                head += more
                text = _decode_prolog(head)
    except OSError as exc:
        raise ReportError(str(path), f"cannot be read: {exc.strerror}") from exc
    match = _ROOT_START.search(text)
    prolog = text[: match.start()] if match else text
    if "<!DOCTYPE" in prolog:
        raise ReportError(
            str(path),
            "declares a DTD (<!DOCTYPE>), which reports never need; refused as unsafe",
            hint="remove the DOCTYPE; entity declarations are not allowed in reports",
        )


def _decode_prolog(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    return head.decode("utf-8", errors="replace")


def safe_iterparse(
    source: BinaryIO, *, events: tuple[str, ...], tag: str | None = None
) -> etree.iterparse:
    """lxml's iterparse with entity resolution, DTD loading and network access off."""
    from lxml import etree  # noqa: PLC0415 - see the import above

    return etree.iterparse(
        source,
        events=events,
        tag=tag,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=True,
    )


class ParserTarget(Protocol):
    """What lxml calls while parsing: element starts and ends, and text."""

    def start(self, tag: str, attrib: dict[str, str]) -> None: ...

    def end(self, tag: str) -> None: ...

    def data(self, text: str) -> None: ...

    def close(self) -> None: ...


_CHUNK = 1024 * 1024


def feed_file(path: Path, target: ParserTarget) -> None:
    """Stream ``path`` through ``target`` with lxml's SAX-style target interface.

    No tree is built, so memory stays flat whatever the size of the report.
    """
    from lxml import etree  # noqa: PLC0415 - see the import above

    check_prolog(path)
    parser = etree.XMLParser(
        # lxml's stubs allow bytes for Python 2's sake; on Python 3 targets always get str.
        target=cast("etree.ParserTarget", target),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=True,
    )
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                parser.feed(chunk)
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise ReportError(str(path), f"is not well-formed XML: {_first_line(exc)}") from exc
    except OSError as exc:
        raise ReportError(str(path), f"cannot be read: {exc.strerror or exc}") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
