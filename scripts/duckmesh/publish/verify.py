"""Checking a snapshot against what was recorded when it was written.

``publish.json`` records, per product version, its rows and content checksum (the same
``files.checksum`` the publish computed from the build) and, per file of the snapshot
(``mesh.duckdb``, each Parquet port, each consumer file and ``manifest.json``, the
governance P09 baseline), a SHA-256. A snapshot is intact when every file hashes to its
recorded digest, or, for a database without one (snapshots written before digests were
recorded), when every product table reads back with its recorded rows and checksum.
Every verdict that a file is intact rests on its content: a size other than the one
recorded says "changed" without reading the file, but an equal size and modification
time never say "intact" (the file is hashed; ``sha256_files`` hashes several at once, one
thread per core). Publish verifies what it reuses or links from the previous snapshot
and checks the new snapshot's row counts (``written``: metadata and footers, no second
read of the rows) before switching ``current``; rollback refuses a damaged snapshot.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import duckdb

from duckmesh.core import fingerprint
from duckmesh.core.products import port_path
from duckmesh.core.project import MeshError
from duckmesh.core.sql import sql_path
from duckmesh.publish import files
from duckmesh.publish.plan import Plan

DATABASE = "mesh.duckdb"
MANIFEST = "manifest.json"
RECORD = "publish.json"
PACKAGES = "packages"  # the dbt packages the products were built with (files.write_packages)
T = TypeVar("T")


class RecordError(MeshError):
    """A snapshot's publish.json that cannot be read: the snapshot cannot be verified."""


sha256 = fingerprint.file_sha256


def sha256_files(root: Path, paths: list[str]) -> dict[str, str | None]:
    """SHA-256 of each file (relative path -> digest, None when it cannot be read), the
    files hashed in parallel: hashlib releases the GIL while it hashes, so each core
    hashes a file of its own."""
    def one(path: str) -> str | None:
        try:
            return sha256(root / path)
        except OSError:
            return None

    if len(paths) < 2:
        return {path: one(path) for path in paths}
    with ThreadPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1)) as pool:
        return dict(zip(paths, pool.map(one, paths), strict=True))


def load_record(root: Path) -> dict:
    """A snapshot's publish.json; a RecordError names the file and the fix when it cannot
    be read (the snapshot then cannot be verified, so it is never served or reused)."""
    path = root / RECORD
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise RecordError(f"published/snapshots/{root.name}/{RECORD} cannot be read "
                          f"({_first_line(error)})") from error
    if not isinstance(record, dict) or not isinstance(record.get("products"), dict):
        raise RecordError(f"published/snapshots/{root.name}/{RECORD} cannot be read (not a "
                          "publish record)")
    return record


def port_file(entry: dict) -> str:
    """A product's Parquet port, relative to its snapshot folder."""
    return (Path("ports") / port_path(entry["domain"], entry["product"],
                                      entry["version"])).as_posix()


def digests(root: Path, record: dict, known: dict[str, str] | None = None) -> dict[str, str]:
    """SHA-256 of the snapshot database, of every product's port, of every consumer
    file, of the manifest and of the dbt packages' files (relative path -> digest), for
    ``record["files"]``; ``known``: digests already checked on these very files (a
    linked port)."""
    packages = root / PACKAGES
    paths = [DATABASE, MANIFEST, *(port_file(e) for e in record["products"].values()),
             *(consumer_file(c) for c in record.get("consumer_tables") or {}),
             *sorted(p.relative_to(root).as_posix() for p in packages.rglob("*")
                     if p.is_file())]
    present = [p for p in dict.fromkeys(paths) if (root / p).is_file()]
    known = {p: d for p, d in (known or {}).items() if p in present}
    hashed = sha256_files(root, [p for p in present if p not in known])
    missing = sorted(p for p, d in hashed.items() if d is None)
    if missing:
        raise OSError(f"cannot read {', '.join(missing)} of the new snapshot")
    return {**known, **{p: d for p, d in hashed.items() if d is not None}}


def content_damage(root: Path, record: dict, paths: list[str] | None = None) -> list[str]:
    """Files of a snapshot (all recorded, or ``paths``) whose content is not the one
    published: missing, another size than recorded (no need to read it), or another
    SHA-256. An equal size and modification time never pass a file unread."""
    expected = record.get("files") or {}
    sizes = record.get("file_stats") or {}
    problems: dict[str, str] = {}
    to_hash = []
    for path in sorted(expected if paths is None else paths):
        try:
            size = (root / path).stat().st_size
        except OSError:
            problems[path] = f"{path} is missing"
            continue
        if path not in expected:
            continue
        if path in sizes and sizes[path][0] != size:
            problems[path] = f"{path} changed since it was published (size differs)"
        else:
            to_hash.append(path)
    for path, digest in sha256_files(root, to_hash).items():
        if digest != expected[path]:
            problems[path] = (f"{path} cannot be read" if digest is None else
                              f"{path} changed since it was published (SHA-256 differs)")
    return [problems[p] for p in sorted(problems)]


def manifest_damage(root: Path, record: dict) -> str | None:
    """Why a snapshot's manifest.json (governance P09's baseline) cannot be trusted: its
    digest, or, for a snapshot written before manifests were hashed, whether it reads as
    a dbt manifest."""
    if MANIFEST in (record.get("files") or {}):
        problems = content_damage(root, record, [MANIFEST])
        return problems[0] if problems else None
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        return f"{MANIFEST} is missing"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"{MANIFEST} cannot be read ({_first_line(error)})"
    if not isinstance(manifest, dict) or not manifest.get("nodes") \
            or not isinstance(manifest.get("metadata"), dict):
        return f"{MANIFEST} is not a dbt manifest of the published products"
    return None


def stats(root: Path, paths: list[str]) -> dict[str, list[int]]:
    """Size and modification time (ns) of each file (relative path), for
    ``record["file_stats"]``: what a warm publish checks the current snapshot by."""
    found = {}
    for path in paths:
        info = (root / path).stat()
        found[path] = [info.st_size, info.st_mtime_ns]
    return found


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
    """Everything wrong with a snapshot: its files (manifest included) against their
    digests, and (``deep``) every product table read back against its rows and
    checksum."""
    problems = content_damage(root, record)
    if MANIFEST not in (record.get("files") or {}):
        problem = manifest_damage(root, record)
        problems += [problem] if problem else []
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


def written(root: Path, record: dict) -> list[str]:
    """A freshly written snapshot checked without reading its rows a second time: each
    product table and each consumer table holds its recorded rows (DuckDB's table
    metadata), each consumer view reads its product's port and each port holds the
    recorded rows (its Parquet footer). The rows were checksummed once, in the build
    (``files.checksum``, by the quality gates' scan), and were copied by DuckDB, which
    writes a checksum into every block and checks it whenever a block is read; from the
    commit on, every file is held to the SHA-256 recorded for it (``digests``), and
    ``snapshot_damage`` (``publish --verify``) reads every table back."""
    problems = _counts(root / DATABASE, {r: e["rows"] for r, e in record["products"].items()})
    for consumer, tables in sorted((record.get("consumer_tables") or {}).items()):
        path = root / consumer_file(consumer)
        copied = {r: t["rows"] for r, t in tables.items() if "port" not in t}
        viewed = {r: t["port"] for r, t in tables.items() if "port" in t}
        problems += [f"{consumer_file(consumer)}: {p}" for p in _counts(path, copied)
                     + view_damage(path, viewed)]
    con = duckdb.connect()
    try:
        for relation, entry in sorted(record["products"].items()):
            try:
                rows = con.execute("select count(*) from read_parquet(?)",
                                   [str(root / port_file(entry))]).fetchall()[0][0]
            except duckdb.Error as error:
                problems.append(f"port of {relation} cannot be read ({_first_line(error)})")
                continue
            if rows != entry["rows"]:
                problems.append(f"port of {relation} holds {rows:,} rows, not {entry['rows']:,}")
    finally:
        con.close()
    return problems


def _counts(database: Path, expected: dict[str, int]) -> list[str]:
    """Tables of ``database`` (relation -> rows) missing or holding other row counts, by
    DuckDB's metadata (no scan)."""
    if not expected:
        return []
    found = _read(database, lambda con: {f"{schema}.{name}": int(size) for schema, name, size
                                         in con.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() "
        "where database_name = current_database()").fetchall()})
    if isinstance(found, str):
        return [found]
    problems = []
    for relation, rows in sorted(expected.items()):
        if relation not in found:
            problems.append(f"table {relation} is missing")
        elif found[relation] != rows:
            problems.append(f"table {relation} holds {found[relation]:,} rows, written "
                            f"with {rows:,}")
    return problems


def _record(root: Path) -> dict | None:
    try:
        return load_record(root)
    except RecordError:
        return None


def carry_sources(kept: list[Path], previous_root: Path | None, decided: Plan,
                  log: Callable[[str], None]) -> dict[str, Path]:
    """The database each carried product is copied from: the newest kept snapshot (of
    ``kept``, oldest first) that
    holds it intact, with the checksum of its last publish. A carried product intact in
    no kept snapshot is left out (moved to ``decided.drop``): damage is never copied."""
    if previous_root is None or not decided.carry:
        return {}
    expected = (_record(previous_root) or {}).get("products") or {}
    candidates = [previous_root] + [root for root in reversed(kept) if root != previous_root]
    found: dict[str, Path] = {}
    for relation in sorted(decided.carry):
        for root in candidates:
            entry = ((_record(root) or {}).get("products") or {}).get(relation)
            if not entry or entry.get("checksum") != (expected.get(relation) or {}).get(
                    "checksum"):
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
