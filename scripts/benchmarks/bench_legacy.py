"""A legacy database table as a source (docs/legacy-sources.md): the time to land an
invoices table of --rows rows from a PostgreSQL server on this machine (the platform's
landing: one query through the ADBC driver, written to Parquet with its manifest)
against reading the same rows from a Parquet file into DuckDB, side by side, as a
ratio; medians of --repeat runs.

Needs PostgreSQL (apt-get install -y postgresql) and the legacy extra (make legacy)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb

from benchmarks import pg_server
from benchmarks.bench_common import Figure, find_mesh, median, print_table, timed, write_json
from duckmesh.core.project import MeshError
from duckmesh.sources import legacy
from duckmesh.sources.validation import ColumnSpec, Extract, SourceSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows of the legacy table (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (default 3)")


def _fill(dsn: str, rows: int) -> None:
    import adbc_driver_postgresql.dbapi as postgres  # the legacy extra

    with postgres.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            "create table public.invoices as select i as invoice_id, "
            "'C' || lpad((i % 100000)::text, 6, '0') as customer_id, "
            "date '2020-01-01' + (i % 2000) as issued_on, "
            "((i % 100000) / 100.0)::numeric(12, 2) as amount, "
            "(array['open', 'paid', 'void'])[1 + i % 3] as status "
            f"from generate_series(1, {int(rows)}) as i")
        connection.commit()


def run(args: argparse.Namespace) -> int:
    reason = pg_server.missing()
    if reason:
        raise MeshError(f"bench legacy: {reason}")
    mesh = find_mesh(args.project_dir)
    spec = SourceSpec(domain="finance", source="erp", table="invoices", format="parquet",
                      path="erp/invoices.parquet", columns=(ColumnSpec("invoice_id"),),
                      extract=Extract("postgres", "public.invoices", "BENCH_ERP_DSN"))
    with pg_server.postgres_server() as dsn, tempfile.TemporaryDirectory() as tmp:
        _fill(dsn, args.rows)
        data_dir = Path(tmp)
        path = str(data_dir / spec.path)
        landing, reading = [], []
        for _ in range(args.repeat):
            _, seconds = timed(lambda: legacy.land(spec, data_dir, dsn))
            landing.append(seconds)
            _, seconds = timed(lambda: duckdb.read_parquet(path).fetch_arrow_table())
            reading.append(seconds)
        rows = duckdb.read_parquet(path).count("*").fetchall()[0]
    land_s, read_s = median(landing), median(reading)
    figures = [
        Figure("legacy", f"land {args.rows:,} rows from PostgreSQL", land_s, samples=landing),
        Figure("legacy", "read the same rows from Parquet", read_s, samples=reading),
        Figure("legacy", "landing / Parquet read", land_s / read_s if read_s else None,
               unit="x"),
    ]
    print_table(figures)
    details = {"rows": rows[0] if rows else None}
    print(f"-> {write_json(mesh.target_dir / 'bench', 'legacy', figures, details)}")
    return 0
