"""Checking a snapshot against what was recorded when it was written.

``publish.json`` records, per product version, its rows and content checksum (the same
``files.checksum`` the publish computed from the build) and, per file of the snapshot
(``mesh.duckdb`` and each Parquet port), a SHA-256. A snapshot is intact when every file
hashes to its recorded digest, or, for a database without one (snapshots written before
digests were recorded), when every product table reads back with its recorded rows and
checksum. Publish verifies what it reuses or links from the previous snapshot and reads
the new snapshot back before switching ``current``; rollback refuses a damaged snapshot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from duckmesh.core.products import port_path
from duckmesh.core.sql import sql_path
from duckmesh.publish import files
from duckmesh.publish.plan import Plan

DATABASE = "mesh.duckdb"
T = TypeVar("T")


def sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def port_file(entry: dict) -> str:
    """A product's Parquet port, relative to its snapshot folder."""
    return (Path("ports") / port_path(entry["domain"], entry["product"],
                                      entry["version"])).as_posix()


def digests(root: Path, record: dict) -> dict[str, str]:
    """SHA-256 of the snapshot database and of every product's port (relative path ->
    digest), for ``record["files"]``."""
    found = {DATABASE: sha256(root / DATABASE)}
    for entry in record["products"].values():
        port = port_file(entry)
        if (root / port).is_file():
            found[port] = sha256(root / port)
    for consumer in record.get("consumer_tables") or {}:
        path = consumer_file(consumer)
        if (root / path).is_file():
            found[path] = sha256(root / path)
    return found


def stats(root: Path, paths: list[str]) -> dict[str, list[int]]:
    """Size and modification time (ns) of each file (relative path), for
    ``record["file_stats"]``: what a warm publish checks the current snapshot by."""
    found = {}
    for path in paths:
        info = (root / path).stat()
        found[path] = [info.st_size, info.st_mtime_ns]
    return found


def stat_damage(root: Path, record: dict) -> list[str]:
    """Files of a snapshot whose size or modification time is not the one recorded when
    it was written (a cheap check, no SHA-256), or that are missing; a snapshot without
    recorded stats cannot be checked this way."""
    recorded = record.get("file_stats")
    if not recorded or not set(record.get("files") or {}) <= set(recorded):
        return ["no file sizes recorded"]
    problems = []
    for path, expected in sorted(recorded.items()):
        try:
            info = (root / path).stat()
        except OSError:
            problems.append(f"{path} is missing")
            continue
        if [info.st_size, info.st_mtime_ns] != expected:
            problems.append(f"{path} changed")
    return problems


def consumer_file(consumer: str) -> str:
    return f"consumers/{consumer}/{DATABASE}"


def consumer_damage(root: Path, record: dict) -> list[str]:
    """Consumer databases whose tables differ from their recorded rows and checksums, or
    whose views no longer read their product's port (the port itself is checked with
    the snapshot's files)."""
    problems = []
    for consumer, tables in sorted((record.get("consumer_tables") or {}).items()):
        path = root / consumer_file(consumer)
        if not path.is_file():
            problems.append(f"{consumer_file(consumer)} is missing")
            continue
        copied = {r: t for r, t in tables.items() if "port" not in t}
        viewed = {r: t["port"] for r, t in tables.items() if "port" in t}
        problems += [f"{consumer_file(consumer)}: {p}"
                     for p in table_damage(path, copied) + view_damage(path, viewed)]
    return problems


def view_damage(database: Path, ports: dict[str, str]) -> list[str]:
    """Views of ``database`` (relation -> the port path it reads) that are missing or
    read another file."""
    if not ports:
        return []

    def views(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        return {f"{schema}.{name}": sql for schema, name, sql in con.execute(
            "select schema_name, view_name, sql from duckdb_views() "
            "where database_name = current_database()").fetchall()}

    found = _read(database, views)
    if isinstance(found, str):
        return [found]
    problems = []
    for relation, port in sorted(ports.items()):
        if relation not in found:
            problems.append(f"view {relation} is missing")
        elif sql_path(Path(port)) not in found[relation]:
            problems.append(f"view {relation} no longer reads {port}")
    return problems


def file_damage(root: Path, record: dict, path: str) -> str | None:
    """Why one file of a snapshot is not as written (None: intact or never hashed)."""
    expected = (record.get("files") or {}).get(path)
    if not (root / path).is_file():
        return f"{path} is missing"
    if expected is None:
        return None
    if sha256(root / path) != expected:
        return f"{path} changed since it was published (SHA-256 differs)"
    return None


def table_damage(database: Path, entries: dict[str, dict],
                 relations: set[str] | None = None) -> list[str]:
    """Product tables of ``database`` whose rows or checksum differ from their entries
    (all products, or ``relations``), and why."""
    wanted = sorted(relations if relations is not None else entries)
    if not wanted:
        return []
    found = _read(database, lambda con: [p for r in wanted
                                         if (p := _one_table(con, r, entries[r]))])
    return [found] if isinstance(found, str) else found


def _read(database: Path, read: Callable[[duckdb.DuckDBPyConnection], T]) -> T | str:
    """``read`` on ``database`` attached read-only (and in use) in a fresh connection, or
    why the file cannot be read."""
    try:
        con = duckdb.connect()
        try:
            con.execute(f"attach {sql_path(database)} as snapshot_check (read_only)")
            con.execute("use snapshot_check")
            return read(con)
        finally:
            con.close()
    except duckdb.Error as error:
        return f"{database.name} cannot be read ({_first_line(error)})"


def _one_table(con: duckdb.DuckDBPyConnection, relation: str, entry: dict) -> str | None:
    schema, name = relation.split(".", 1)
    try:
        rows, checksum = files.checksum(con, schema, name)
    except duckdb.CatalogException:
        return f"table {relation} is missing"
    except duckdb.Error as error:
        return f"table {relation} cannot be read ({_first_line(error)})"
    if rows != entry["rows"] or checksum != entry["checksum"]:
        return (f"table {relation} holds {rows:,} rows with checksum {checksum}, "
                f"published as {entry['rows']:,} rows with checksum {entry['checksum']}")
    return None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def database_damage(root: Path, record: dict, relations: set[str] | None = None) -> list[str]:
    """Why a snapshot's database (or the tables ``relations`` in it) cannot be trusted:
    its digest when recorded, else the tables read back."""
    problem = file_damage(root, record, DATABASE)
    if problem:
        return [problem]
    if DATABASE in (record.get("files") or {}):
        return []
    return table_damage(root / DATABASE, record["products"], relations)


def snapshot_damage(root: Path, record: dict, deep: bool = True) -> list[str]:
    """Everything wrong with a snapshot: its files against their digests, and (``deep``)
    every product table read back against its rows and checksum."""
    problems = [p for p in (file_damage(root, record, path)
                            for path in sorted(record.get("files") or {})) if p]
    if not (root / DATABASE).is_file():
        return problems or [f"{DATABASE} is missing"]
    if deep or DATABASE not in (record.get("files") or {}):
        problems += table_damage(root / DATABASE, record["products"])
    if deep:
        problems += [p for p in consumer_damage(root, record) if p not in problems]
    for entry in record["products"].values():
        port = port_file(entry)
        if not (root / port).is_file() and f"{port} is missing" not in problems:
            problems.append(f"{port} is missing")
    return problems


def port_damage(root: Path, record: dict, relation: str) -> str | None:
    """Why a product's port in a snapshot cannot be linked into a new one (None: it
    hashes to its recorded digest, or, unrecorded, still reads with its rows)."""
    entry = record["products"][relation]
    port = port_file(entry)
    problem = file_damage(root, record, port)
    if problem or (record.get("files") or {}).get(port):
        return problem
    try:
        con = duckdb.connect()
        try:
            rows = con.execute("select count(*) from read_parquet(?)",
                               [str(root / port)]).fetchall()[0][0]
        finally:
            con.close()
    except duckdb.Error as error:
        return f"{port} cannot be read ({_first_line(error)})"
    return None if rows == entry["rows"] else f"{port} holds {rows:,} rows, not {entry['rows']:,}"


def read_back(root: Path, record: dict) -> list[str]:
    """A freshly written snapshot, read back: every table with its rows and checksum,
    every port with its rows."""
    problems = table_damage(root / DATABASE, record["products"]) + consumer_damage(root, record)
    con = duckdb.connect()
    try:
        for relation, entry in sorted(record["products"].items()):
            port = root / port_file(entry)
            try:
                rows = con.execute("select count(*) from read_parquet(?)",
                                   [str(port)]).fetchall()[0][0]
            except duckdb.Error as error:
                problems.append(f"port of {relation} cannot be read ({_first_line(error)})")
                continue
            if rows != entry["rows"]:
                problems.append(f"port of {relation} holds {rows:,} rows, not {entry['rows']:,}")
    finally:
        con.close()
    return problems


def _record(root: Path) -> dict:
    return json.loads((root / "publish.json").read_text())


def port_intact(root: Path | None, record: dict, relation: str,
                 log: Callable[[str], None]) -> bool:
    if root is None:
        return False
    damage = port_damage(root, record, relation)
    if damage:
        log(f"      {damage}: written again from its table")
    return damage is None


def carry_sources(kept: list[Path], previous_root: Path | None, decided: Plan,
                  log: Callable[[str], None]) -> dict[str, Path]:
    """The database each carried product is copied from: the newest kept snapshot (of
    ``kept``, oldest first) that
    holds it intact, with the checksum of its last publish. A carried product intact in
    no kept snapshot is left out (moved to ``decided.drop``): damage is never copied."""
    if previous_root is None or not decided.carry:
        return {}
    expected = _record(previous_root)["products"]
    candidates = [previous_root] + [root for root in reversed(kept) if root != previous_root]
    found: dict[str, Path] = {}
    for relation in sorted(decided.carry):
        for root in candidates:
            entry = _record(root)["products"].get(relation)
            if not entry or entry.get("checksum") != expected[relation].get("checksum"):
                continue
            if not table_damage(root / DATABASE, {relation: entry}):
                found[relation] = root / DATABASE
                if root != previous_root:
                    log(f"      {relation}: damaged in the previous snapshot, carried from "
                        f"the intact copy in {root.name}")
                break
        else:
            why = decided.carry.pop(relation)
            decided.drop[relation] = (f"{why}; its published table is damaged in every kept "
                                      "snapshot")
    return found
