"""Quarantine: validate every source before dbt reads it (a BEFORE_BUILD step).

Bad rows go to ``quarantine.<source>__<table>`` in the mesh database (file, line, reason,
raw line), with one summary row per source in ``quarantine.source_checks``. When a file has
bad rows, dbt reads a cleaned copy: ``target/validated/`` mirrors the data folder (links
to the untouched files, cleaned copies of the others keeping the good lines byte for byte)
and the build points DUCKMESH_DATA at it. A source over its threshold, or with a removed or
retyped column, stops the build before dbt runs; its quarantine is written first.
The cache of the checks (which keeps quarantined raw lines) and the cleaned copy hold
personal data: their folders are made private before anything is written (core/files.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from duckmesh.core import files
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console
from duckmesh.core.project import Mesh, MeshError
from duckmesh.core.sql import qualified_name, sql_path
from duckmesh.sources.validation import (
    CheckResult,
    SourceSpecError,
    check_cached,
    load_specs,
)

SCHEMA = "quarantine"


def check_sources(ctx: BuildContext) -> None:
    """Build step: check every declared source; when rows were quarantined, point the
    build at the cleaned copy (``ctx.validated_data``)."""
    ctx.validated_data = validate_sources(ctx.mesh, ctx.data_dir)


def keep_private(mesh: Mesh) -> None:
    """The checks' cache and the cleaned copy, tightened (with a line) when an older build
    or a user left them readable by others: also when a --changed-only build skips the
    checks."""
    for folder in (mesh.target_dir / "validation_cache", mesh.target_dir / "validated"):
        files.private_tree(folder)


def validate_sources(mesh: Mesh, data_dir: Path) -> Path | None:
    """Check every declared source; return the cleaned copy dbt must read instead of
    ``data_dir`` (None: every row is good). A source whose contract and files are
    unchanged since its last check reuses that result (target/validation_cache/, keyed
    by each file's size, mtime and content hash)."""
    cache = mesh.target_dir / "validation_cache"
    files.private_dir(cache)  # raw lines of quarantined rows, personal data included
    try:
        specs = load_specs(mesh.domain_dirs())
        if any(spec.extract for spec in specs):  # legacy database tables, landed first
            from duckmesh.sources import legacy  # noqa: PLC0415 (imports dbt-duckdb)

            for line in legacy.land_all(specs, data_dir):
                console().step("      " + line)
        results = [check_cached(spec, data_dir, cache) for spec in specs]
    except SourceSpecError as error:
        raise MeshError(str(error)) from error
    finally:
        files.private_tree(cache, log=None)  # the files just written (validation.py)
    store(mesh.db_path, results)
    console().step("      source checks (bad rows -> quarantine.<source>__<table>)")
    for result in results:
        console().step("      " + describe(result))
        for drift in result.drift:
            console().warn(f"      schema drift in {result.spec.name}: {drift}", err=False)
    mirror = mesh.target_dir / "validated"
    if mirror.exists():
        shutil.rmtree(mirror)
    errors = [e for e in (r.threshold_error() for r in results) if e]
    if errors:
        raise MeshError("; ".join(errors))
    if not any(r.bad_rows for r in results):
        return None
    files.private_dir(mirror, log=None)  # cleaned copies of the source files
    write_mirror(data_dir, mirror, results)
    files.private_tree(mirror, log=None)
    return mirror


def describe(result: CheckResult) -> str:
    bad = len(result.bad_rows)
    where = f" -> {SCHEMA}.{result.spec.quarantine_table}" if bad else ""
    return f"{result.spec.name:<28} {result.rows:>9,} rows  {bad:>6,} quarantined{where}"


def store(db_path: Path, results: list[CheckResult]) -> None:
    """Replace each source's quarantine table and the summary (names are validated specs)."""
    con = duckdb.connect(str(db_path))
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        con.execute(f"""create table if not exists {SCHEMA}.source_checks (
            source_name varchar, domain varchar, rows_read bigint, rows_quarantined bigint,
            drift varchar[], threshold_error varchar, checked_at timestamp with time zone)""")
        for result in results:
            spec = result.spec
            table = qualified_name(SCHEMA, spec.quarantine_table)
            con.execute(f"""create or replace table {table} (
                source_name varchar, file varchar, line_number bigint, reason varchar,
                raw_line varchar, quarantined_at timestamp with time zone)""")
            if result.bad_rows:
                con.executemany(
                    f"insert into {table} values (?, ?, ?, ?, ?, current_timestamp)",
                    [[spec.name, r.file, r.line_number, _storable(r.reason),
                      _storable(r.raw_line)] for r in result.bad_rows])
            con.execute(f"delete from {SCHEMA}.source_checks where source_name = ?", [spec.name])
            con.execute(
                f"insert into {SCHEMA}.source_checks values (?, ?, ?, ?, ?, ?, current_timestamp)",
                [spec.name, spec.domain, result.rows, len(result.bad_rows),
                 [str(d) for d in result.drift], result.threshold_error()])
    finally:
        con.close()


def _storable(text: str) -> str:
    """``text`` as valid UTF-8 without NUL (lone surrogates and NUL escaped), so any
    quarantined line can be stored."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def write_mirror(data_dir: Path, mirror: Path, results: list[CheckResult]) -> None:
    """Links to every data file, except cleaned copies of those with bad rows."""
    bad_lines: dict[str, set[int]] = {}
    for result in results:
        for row in result.bad_rows:
            bad_lines.setdefault(row.file, set()).add(row.line_number)
    formats = {p.relative_to(data_dir).as_posix(): r.spec.format
               for r in results for p in r.files}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(data_dir).as_posix()
        target = mirror / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative not in bad_lines:
            os.symlink(path.resolve(), target)
        elif formats[relative] == "parquet":
            _clean_parquet(path, target, bad_lines[relative])
        else:
            _clean_text(path, target, bad_lines[relative])


def _clean_text(path: Path, target: Path, bad: set[int]) -> None:
    with path.open("rb") as source, target.open("wb") as out:
        for number, line in enumerate(source, start=1):
            if number not in bad:
                out.write(line)


def _clean_parquet(path: Path, target: Path, bad: set[int]) -> None:
    con = duckdb.connect()
    try:
        con.execute("create temp table bad (row_number bigint)")
        con.executemany("insert into bad values (?)", [[n - 1] for n in sorted(bad)])
        con.execute(f"""copy (
            select * exclude (file_row_number)
            from read_parquet(?, file_row_number = true)
            where file_row_number not in (select row_number from bad)
            order by file_row_number
        ) to {sql_path(target)} (format parquet, compression zstd)""", [str(path)])
    finally:
        con.close()


# -- what the last build set aside (`duckmesh quarantine`) -----------------------------

def _read_only(mesh: Mesh) -> duckdb.DuckDBPyConnection:
    if not mesh.db_path.exists():
        raise MeshError(f"{mesh.db_path} not found: run `duckmesh build` first")
    try:
        return duckdb.connect(str(mesh.db_path), read_only=True)
    except duckdb.IOException as error:
        raise MeshError(f"cannot open {mesh.db_path} ({error}): wait for the running build "
                        "to finish, or read published/mesh.duckdb") from error


def source_summary(mesh: Mesh) -> list[tuple]:
    """(source, domain, rows read, rows quarantined, drift, threshold error) per source."""
    con = _read_only(mesh)
    try:
        return con.execute(f"select source_name, domain, rows_read, rows_quarantined, drift, "
                           f"threshold_error from {SCHEMA}.source_checks "
                           f"order by source_name").fetchall()
    except duckdb.CatalogException as error:
        raise MeshError(f"no quarantine in {mesh.db_path}: run `duckmesh build` first") from error
    finally:
        con.close()


def quarantined_rows(mesh: Mesh, source: str) -> list[tuple]:
    """(file, line, reason, raw line) of every row quarantined from ``source``."""
    names = {row[0] for row in source_summary(mesh)}
    if source not in names:
        raise MeshError(f"unknown source {source!r}: one of {sorted(names)}")
    con = _read_only(mesh)
    try:
        table = qualified_name(SCHEMA, source.replace(".", "__"))
        return con.execute(f"select file, line_number, reason, raw_line from {table} "
                           f"order by file, line_number").fetchall()
    finally:
        con.close()
