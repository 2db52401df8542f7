"""The ``mesh_observability`` schema: append-only history, SLO status, ledger and alerts.

Nothing here ever deletes rows: a build appends its run; alerts are the only rows
updated (resolved, seen again)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from duckmesh.core import builddb
from duckmesh.core.project import MeshError

SCHEMA = "mesh_observability"

TABLES = {
    "runs": """
        run_id varchar primary key, started_at timestamptz, ended_at timestamptz,
        status varchar, dbt_version varchar, target varchar, git_commit varchar,
        command varchar, as_of timestamptz, elapsed_seconds double, node_count integer,
        recorded_at timestamptz, data_set varchar""",
    "node_runs": """
        run_id varchar, unique_id varchar, resource_type varchar, package varchar,
        name varchar, version integer, status varchar, started_at timestamptz,
        ended_at timestamptz, execution_seconds double, failures bigint, message varchar""",
    "test_results": """
        run_id varchar, product varchar, version integer, test_id varchar,
        test_name varchar, status varchar, failures bigint, severity varchar,
        message varchar""",
    "product_metrics": """
        run_id varchar, product varchar, version integer, is_latest boolean,
        relation varchar, owner varchar, build_status varchar, build_seconds double,
        built_at timestamptz, available boolean, row_count bigint, key_columns varchar,
        key_distinct_count bigint, freshness_column varchar, freshness_min timestamptz,
        freshness_max timestamptz, freshness_lag_hours double, measured_at timestamptz""",
    "column_metrics": """
        run_id varchar, product varchar, version integer, column_name varchar,
        null_count bigint, null_rate double""",
    "slo_status": """
        run_id varchar, product varchar, version integer, slo varchar,
        column_name varchar, target double, observed double, met boolean,
        message varchar""",
    "slo_ledger": """
        run_id varchar, product varchar, window_runs integer, runs integer,
        available_runs integer, availability_pct double, availability_target_pct double,
        availability_met boolean, freshness_checks integer, freshness_met integer,
        freshness_hit_pct double, build_p50_seconds double, build_p95_seconds double,
        build_budget_seconds double""",
    "alerts": """
        alert_id bigint, alert_key varchar, kind varchar, check_name varchar,
        product varchar, version integer, owner varchar, severity varchar,
        message varchar, status varchar, raised_run_id varchar, raised_at timestamptz,
        last_seen_run_id varchar, occurrences integer, resolved_run_id varchar,
        resolved_at timestamptz""",
}


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    for name, columns in TABLES.items():
        con.execute(f"create table if not exists {SCHEMA}.{name} ({columns})")
    # added after the first release: histories recorded before have it null
    con.execute(f"alter table {SCHEMA}.runs add column if not exists data_set varchar")


@contextmanager
def connect(db_path: Path, create: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the mesh database. No read_only: dbt-duckdb may still hold the
    file open in this process, and DuckDB only shares an instance opened alike."""
    if not create and not has_history(db_path):
        raise MeshError(
            f"no observability history in {db_path}: run `duckmesh build` (which records "
            "every run) or `duckmesh observe` after a dbt build")
    con = _open(db_path)
    try:
        if create:
            ensure_schema(con)
        yield con
    finally:
        con.close()


def _open(db_path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return builddb.connect(db_path)
    except duckdb.IOException as error:
        raise MeshError(
            f"cannot open {db_path}: {error} (another process, e.g. a running build or a "
            "DuckDB shell, holds the file: wait for it or close it, then retry)") from error


def has_history(db_path: Path) -> bool:
    if not db_path.exists():
        return False
    con = _open(db_path)
    try:
        return bool(con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = 'runs'", [SCHEMA]).fetchall()[0][0])
    finally:
        con.close()


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """Append dict rows (keys = column names) to a table of the schema."""
    if not rows:
        return
    columns = list(rows[0])
    row_marks = "(" + ", ".join("?" for _ in columns) + ")"
    # one multi-row statement per chunk: executemany runs a statement per row
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        con.execute(
            f"insert into {SCHEMA}.{table} ({', '.join(columns)}) "
            f"values {', '.join(row_marks for _ in chunk)}",
            [row[c] for row in chunk for c in columns])
