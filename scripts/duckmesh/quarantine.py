"""Quarantine: validate every source before dbt reads it (a BEFORE_BUILD step).

Bad rows go to ``quarantine.<source>__<table>`` in the mesh database (file, line, reason,
raw line), with one summary row per source in ``quarantine.source_checks``. When a file has
bad rows, dbt reads a cleaned copy: ``target/validated/`` mirrors the data folder (links
to the untouched files, cleaned copies of the others keeping the good lines byte for byte)
and the build points DUCKMESH_DATA at it. A source over its threshold, or with a removed or
retyped column, stops the build before dbt runs; its quarantine is written first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import duckdb

from .project import Mesh, MeshError, find_mesh
from .validation import CheckResult, SourceSpecError, check_cached, load_specs

SCHEMA = "quarantine"


def validate_sources(mesh: Mesh, data_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """Check every declared source; return the environment overrides dbt needs. A source
    whose contract and files are unchanged since its last check reuses that result
    (target/validation_cache/, keyed by each file's size, mtime and content hash)."""
    cache = mesh.target_dir / "validation_cache"
    try:
        results = [check_cached(spec, data_dir, cache) for spec in load_specs(mesh.domain_dirs())]
    except SourceSpecError as error:
        raise MeshError(str(error)) from error
    store(mesh.db_path, results)
    print("      source checks (bad rows -> quarantine.<source>__<table>)", flush=True)
    for result in results:
        print("      " + describe(result), flush=True)
        for drift in result.drift:
            print(f"      schema drift in {result.spec.name}: {drift}", flush=True)
    mirror = mesh.target_dir / "validated"
    if mirror.exists():
        shutil.rmtree(mirror)
    errors = [e for e in (r.threshold_error() for r in results) if e]
    if errors:
        raise MeshError("; ".join(errors))
    if not any(r.bad_rows for r in results):
        return {}
    write_mirror(data_dir, mirror, results)
    return {"DUCKMESH_DATA": str(mirror)}


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
            table = f'{SCHEMA}."{spec.quarantine_table}"'
            con.execute(f"""create or replace table {table} (
                source_name varchar, file varchar, line_number bigint, reason varchar,
                raw_line varchar, quarantined_at timestamp with time zone)""")
            if result.bad_rows:
                con.executemany(
                    f"insert into {table} values (?, ?, ?, ?, ?, current_timestamp)",
                    [[spec.name, r.file, r.line_number, r.reason, r.raw_line]
                     for r in result.bad_rows])
            con.execute(f"delete from {SCHEMA}.source_checks where source_name = ?", [spec.name])
            con.execute(
                f"insert into {SCHEMA}.source_checks values (?, ?, ?, ?, ?, ?, current_timestamp)",
                [spec.name, spec.domain, result.rows, len(result.bad_rows),
                 [str(d) for d in result.drift], result.threshold_error()])
    finally:
        con.close()


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
        ) to '{_sql_path(target)}' (format parquet, compression zstd)""", [str(path)])
    finally:
        con.close()


def _sql_path(path: Path) -> str:
    return path.as_posix().replace("'", "''")


# -- `duckmesh quarantine`: what the last build set aside ---------------------------------

def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quarantine", help="show the rows the last build quarantined, per source",
        description="Counts per source from quarantine.source_checks and, with --source, "
                    "the quarantined rows (line, reason, raw line).")
    parser.add_argument("--source", default=None, help="source.table, e.g. crm.customers")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    if not mesh.db_path.exists():
        raise MeshError(f"{mesh.db_path} not found: run `duckmesh build` first")
    try:
        con = duckdb.connect(str(mesh.db_path), read_only=True)
    except duckdb.IOException as error:
        raise MeshError(f"cannot open {mesh.db_path} ({error}): wait for the running build "
                        "to finish, or read published/mesh.duckdb") from error
    try:
        summary = con.execute(f"select source_name, domain, rows_read, rows_quarantined, drift, "
                              f"threshold_error from {SCHEMA}.source_checks "
                              f"order by source_name").fetchall()
        if args.source is not None:
            names = {row[0] for row in summary}
            if args.source not in names:
                raise MeshError(f"unknown source {args.source!r}: one of {sorted(names)}")
            table = f'{SCHEMA}."{args.source.replace(".", "__")}"'
            rows = con.execute(f"select file, line_number, reason, raw_line from {table} "
                               f"order by file, line_number").fetchall()
            if args.json:
                print(json.dumps([dict(zip(("file", "line", "reason", "raw"), r)) for r in rows],
                                 indent=2))
            else:
                for file, line, reason, raw in rows:
                    print(f"{file}:{line}: {reason}\n    {raw}")
            return 0
    except duckdb.CatalogException as error:
        raise MeshError(f"no quarantine in {mesh.db_path}: run `duckmesh build` first") from error
    finally:
        con.close()
    if args.json:
        keys = ("source", "domain", "rows", "quarantined", "drift", "error")
        print(json.dumps([dict(zip(keys, row)) for row in summary], indent=2))
    else:
        for name, domain, rows, bad, drift, error in summary:
            print(f"{name:<28} {domain:<18} {rows:>9,} rows {bad:>6,} quarantined"
                  + (f"  drift: {', '.join(drift)}" if drift else "")
                  + (f"  FAILED: {error}" if error else ""))
    return 0
