"""The pieces a snapshot is written with: reuse of the previous snapshot's files,
checksums, the ``_duckmesh`` metadata tables."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import duckdb

from duckmesh.core.sql import qualified_name, quote_ident


def reusable_base(previous_root: Path | None, name: Path) -> Path | None:
    """A previous snapshot's database that a new one may start from (a copy of it):
    committed, checkpointed (no WAL) and not mostly free space."""
    if previous_root is None:
        return None
    path = previous_root / name
    if not path.is_file() or has_wal(path):
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return path if compact(con, con.execute("select current_database()").fetchall()[0][0]) \
            else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def has_wal(path: Path) -> bool:
    """Does the database file have changes not yet checkpointed into it (a WAL)?"""
    wal = path.with_name(path.name + ".wal")
    return wal.exists() and wal.stat().st_size > 0


def compact(con: duckdb.DuckDBPyConnection, database: str, most_free: float = 0.5) -> bool:
    """Is at most ``most_free`` of ``database``'s file free blocks (what a copy would carry
    along without use)?"""
    total, free = con.execute("select total_blocks, free_blocks from pragma_database_size() "
                              "where database_name = ?", [database]).fetchall()[0]
    return bool(total) and free <= total * most_free


FICLONE = 0x40049409  # linux/fs.h: share the source's blocks (copy-on-write)


def clone_file(source: Path, target: Path) -> str:
    """Copy ``source`` to a new file ``target``: a reflink where the file system has
    them (btrfs, XFS: no data is copied), else the kernel's copy; return which."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        try:
            fcntl.ioctl(writer.fileno(), FICLONE, reader.fileno())
            return "reflink"
        except OSError:
            pass
    shutil.copyfile(source, target)
    return "copy"


def link_file(source: Path, target: Path) -> None:
    """Snapshot files are never changed once committed, so a new snapshot may share them."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def clear(con: duckdb.DuckDBPyConnection, database: str, keep: set[str]) -> None:
    """Drop from a copied snapshot database every view, the metadata and each table
    whose relation is not in ``keep``."""
    objects = con.execute(
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_catalog = ?", [database]).fetchall()
    for schema, name, kind in objects:
        if kind == "VIEW":
            con.execute(f"drop view {qualified_name(database, schema, name)}")
    for schema, name, kind in objects:
        if kind != "VIEW" and (schema == "_duckmesh" or f"{schema}.{name}" not in keep):
            con.execute(f"drop table {qualified_name(database, schema, name)}")
    con.execute(f"drop schema if exists {quote_ident(database)}._duckmesh")
    used = {s for s, n, k in objects if k != "VIEW" and f"{s}.{n}" in keep}
    for (schema,) in con.execute("select schema_name from information_schema.schemata "
                                 "where catalog_name = ?", [database]).fetchall():
        if schema not in used and schema not in ("main", "information_schema", "pg_catalog",
                                                 "_duckmesh"):
            con.execute(f"drop schema if exists {quote_ident(database)}.{quote_ident(schema)}")


# a table's checksum, over its rows aliased ``t`` (gates.measure computes it in its scan)
CHECKSUM = "coalesce(sum(hash(t)), 0)::varchar"


def checksum(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> tuple[int, str]:
    rows, checksum = con.execute(
        f"select count(*), {CHECKSUM} from {qualified_name(schema, name)} as t"
    ).fetchall()[0]
    return int(rows), checksum


def metadata(con: duckdb.DuckDBPyConnection, snapshot: str, rows: list[list]) -> None:
    con.execute("create schema _duckmesh")
    con.execute("create table _duckmesh.snapshot as select ? as snapshot_id, "
                "current_timestamp as published_at", [snapshot])
    con.execute("create table _duckmesh.products (relation varchar, domain varchar, "
                "product varchar, version integer, row_count bigint, checksum varchar, "
                "origin varchar)")
    if rows:
        con.executemany("insert into _duckmesh.products values (?, ?, ?, ?, ?, ?, ?)", rows)


def port_files(con: duckdb.DuckDBPyConnection, ports: dict[str, str]) -> None:
    """``_duckmesh.port_files``: each product's Parquet port in the snapshot this file
    belongs to (relation -> path relative to ``published/``: ``snapshots/<id>/ports/...``,
    never changed once committed). A reader that opened ``published/mesh.duckdb`` reads
    the ports of the very snapshot it holds there, whatever ``current`` becomes meanwhile
    (DuckDB opens a Parquet file by its path more than once per query, so a path through
    ``current`` can name two files in one read)."""
    con.execute("create table _duckmesh.port_files (relation varchar, snapshot_path varchar)")
    if ports:
        con.executemany("insert into _duckmesh.port_files values (?, ?)",
                        sorted([r, p] for r, p in ports.items()))


# the files a dbt package needs to parse (docs/domains.md "Consumers outside this repository": an
# outside project points DUCKMESH_PLATFORM and DUCKMESH_DOMAINS at published/packages/)
PACKAGE_FILES = ("dbt_project.yml", "packages.yml", "selectors.yml")
PACKAGE_FOLDERS = ("models", "macros", "seeds", "snapshots", "analyses", "data-tests",
                   "governance", "portability", "privacy", "products")


def package_files(sources: dict[str, Path]) -> dict[str, Path]:
    """The files write_packages copies: '<name>/<path in the package>' -> the file."""
    found = {}
    for name, folder in sources.items():
        if not (folder / "dbt_project.yml").is_file():
            continue
        for file in PACKAGE_FILES:
            if (folder / file).is_file():
                found[f"{name}/{file}"] = folder / file
        for sub in PACKAGE_FOLDERS:
            for path in (folder / sub).rglob("*") if (folder / sub).is_dir() else ():
                if path.is_file():
                    found[f"{name}/{path.relative_to(folder).as_posix()}"] = path
    return found


def same_packages(sources: dict[str, Path], published: Path) -> bool:
    """Does ``published`` (a snapshot's packages/ folder) hold exactly the files
    write_packages would write from ``sources``, byte for byte?"""
    if not published.is_dir():
        return False
    expected = package_files(sources)
    present = {path.relative_to(published).as_posix(): path
               for path in published.rglob("*") if path.is_file()}
    return expected.keys() == present.keys() and all(
        expected[name].read_bytes() == present[name].read_bytes() for name in expected)


def write_packages(sources: dict[str, Path], out: Path) -> None:
    """Copy the dbt packages the published products were built with (``sources``: name
    -> folder: the platform package and every domain) to ``out/<name>``, so a project
    that installs a domain by git resolves that domain's own dependencies locally."""
    for name, folder in sources.items():
        if not (folder / "dbt_project.yml").is_file():
            continue
        target = out / name
        target.mkdir(parents=True)
        for file in PACKAGE_FILES:
            if (folder / file).is_file():
                shutil.copyfile(folder / file, target / file)
        for sub in PACKAGE_FOLDERS:
            if (folder / sub).is_dir():
                shutil.copytree(folder / sub, target / sub)
