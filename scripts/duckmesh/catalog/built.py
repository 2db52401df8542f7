"""What was built: the catalog describes the relations that exist, not the YAML of a
build that failed.

dbt's manifest is written by every parse, so after a failed build it holds the new
columns of a product whose table still has the old ones, and no compiled SQL for the
models it skipped. The catalog therefore keeps, per model, the node of the last run in
which it built successfully (``target/catalog/last_good_nodes.json``) and reads the
manifest through it (``as_built``); the columns of each product version are then
checked against the database (``match_database``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import duckdb

from duckmesh.catalog.descriptor import ColumnRecord, ProductRecord
from duckmesh.core.types import canonical_type

# relation ('schema.table', lower case) -> [(column, DuckDB type)] as the database has it
DatabaseColumns = dict[str, list[tuple[str, str]]]


def as_built(manifest: dict, run_results: dict | None, kept: dict[str, dict]
             ) -> tuple[dict, dict[str, dict]]:
    """(the manifest with each model as of its last successful build, the updated
    record of last successful builds). A model that succeeded in ``run_results`` is
    recorded as it is; one that failed, was skipped or did not run is read as kept."""
    statuses = {r["unique_id"]: r.get("status")
                for r in (run_results or {}).get("results", [])}
    updated: dict[str, dict] = {}
    nodes = dict(manifest["nodes"])
    for unique_id, node in manifest["nodes"].items():
        if node.get("resource_type") != "model":
            continue
        if statuses.get(unique_id) == "success":
            updated[unique_id] = node
        elif unique_id in kept:
            updated[unique_id] = kept[unique_id]
            nodes[unique_id] = kept[unique_id]
    return {**manifest, "nodes": nodes}, updated


def read_kept(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_kept(path: Path, kept: dict[str, dict]) -> None:
    """Atomically; a record that cannot be written only loses the fallback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".last-good-",
                                         suffix=".tmp", delete=False) as handle:
            json.dump(kept, handle, separators=(",", ":"))
        os.replace(handle.name, path)
    except OSError:
        pass


def database_columns(con: duckdb.DuckDBPyConnection) -> DatabaseColumns:
    found: DatabaseColumns = {}
    for schema, table, column, data_type in con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns where table_catalog = current_database() "
            "order by table_schema, table_name, ordinal_position").fetchall():
        found.setdefault(f"{schema}.{table}".lower(), []).append((column, data_type))
    return found


def match_database(records: list[ProductRecord], database: DatabaseColumns
                   ) -> list[ProductRecord]:
    """Only the versions whose relation exists, each with the columns and types its
    relation has (described as the manifest describes them, where it does)."""
    kept = []
    for record in records:
        actual = database.get(record.relation.lower())
        if actual is None:
            continue  # never built: nothing to describe yet
        declared = {c.name.lower(): c for c in record.columns}
        columns = []
        for position, (name, data_type) in enumerate(actual, start=1):
            column = declared.get(name.lower())
            if column is None:
                column = ColumnRecord(name=name, position=position,
                                      data_type=canonical_type(data_type), description="",
                                      primary_key=False, not_null=False, unique=False,
                                      classification=None)
            else:
                column.position = position
                if canonical_type(column.data_type) != canonical_type(data_type):
                    column.data_type = canonical_type(data_type)
            columns.append(column)
        record.columns = columns
        kept.append(record)
    return kept
