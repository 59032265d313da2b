"""What a router was told, by generation: each routing is recorded with the instance names
behind its servers before the reload that loads it, so the generation a router answers with
can always be told in names (``status`` after a controller died mid-switch)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from pipelines import atomic


class RoutingRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One routing as it was handed to nginx: its generation, its servers and the instance
    names behind them. Written before the reload it describes, so that whatever the
    controller's fate, the generation nginx answers with can be told in instance names."""

    generation: int
    servers: dict[str, int]
    names: dict[str, int] = {}
    preview: dict[str, int] = {}  # the preview address's servers


class RoutingRecords(msgspec.Struct, frozen=True, kw_only=True):
    """The last few routings handed to nginx, newest last."""

    records: list[RoutingRecord] = []


# The routing nginx serves and the one about to replace it, with room for one more.
KEEP_RECORDS = 3


def read(path: Path) -> list[RoutingRecord]:
    """The recorded routings, newest last ([] when there are none or they cannot be read:
    then nothing can be told in names, and the router's own answer still can)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    try:
        return msgspec.json.decode(data, type=RoutingRecords).records
    except msgspec.DecodeError:
        return []


def write(path: Path, records: list[RoutingRecord]) -> None:
    """Keep the newest few, written atomically (a reader sees all of them or the old ones);
    a routing handed over again under the same generation replaces the earlier one."""
    newest = records[-1]
    kept = [r for r in records[:-1] if r.generation < newest.generation][-(KEEP_RECORDS - 1) :]
    atomic.write_bytes(path, msgspec.json.encode(RoutingRecords(records=[*kept, newest])))
