"""A snapshot's record (its ``publish.json``), typed: what a publish writes and what the
next one starts from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECORD = "publish.json"


@dataclass
class Snapshot:
    """One snapshot as ``publish.json`` records it. ``products``: relation -> its entry
    (domain, product, version, rows, checksum, columns, latest, unique_id, port_select,
    totals, reused, origin_snapshot); ``consumer_tables``: consumer -> relation -> how
    its file holds it; ``files``: relative path -> SHA-256, ``file_stats``: -> [size,
    mtime ns]."""

    snapshot: str
    previous: str | None
    invocation_id: str
    published_at: str
    file_modes: dict
    data_set: str | None
    manifest_digest: str
    catalog_digest: str
    products: dict[str, dict] = field(default_factory=dict)
    consumers: dict[str, list[str]] = field(default_factory=dict)
    consumer_tables: dict[str, dict] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    file_stats: dict[str, list[int]] = field(default_factory=dict)

    def record(self) -> dict:
        """The record as the verify, unchanged and snapshots functions read it."""
        return asdict(self)

    def write(self, root: Path) -> None:
        (root / RECORD).write_text(json.dumps(self.record(), indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class Previous:
    """The current snapshot a publish starts from: its id, folder and record (all empty
    when nothing was published yet)."""

    name: str | None = None
    root: Path | None = None
    record: dict = field(default_factory=dict)

    @property
    def products(self) -> dict[str, dict]:
        return self.record.get("products") or {}
