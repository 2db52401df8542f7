"""`duckmesh query` reads the published mesh and nothing else (issue 18, items 6 and 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import BuiltMesh, duckmesh

pytestmark = pytest.mark.integration


def test_query_reads_the_mesh(built_mesh: BuiltMesh) -> None:
    result = duckmesh(built_mesh.root, "query", "select count(*) as n from sales.orders_v2",
                      "--json")
    assert result.stdout.strip() == '{"n": 10000}'


def test_query_opens_the_publish_not_the_build_database(built_mesh: BuiltMesh) -> None:
    """Item 10: the default is published/mesh.duckdb; staging views (names, e-mails,
    phones) and quarantine stay in the build database, the domains' working area."""
    current = (built_mesh.root / "published" / "current").readlink().name
    result = duckmesh(built_mesh.root, "query", "select snapshot_id from _duckmesh.snapshot",
                      "--json")
    assert result.stdout.strip() == f'{{"snapshot_id": "{current}"}}'
    private = duckmesh(built_mesh.root, "query", "select email from customers.stg_crm__customers",
                       check=False)
    assert private.returncode == 1
    assert "Table with name stg_crm__customers does not exist" in private.stderr
    listed = duckmesh(built_mesh.root, "query", "select distinct table_schema from "
                      "information_schema.tables order by 1", "--json")
    assert [line for line in listed.stdout.splitlines()] == [
        f'{{"table_schema": "{s}"}}' for s in ("_duckmesh", "analytics", "customer_service",
                                               "customers", "marketing", "sales")]


def test_query_cannot_open_the_publish_read_write(built_mesh: BuiltMesh) -> None:
    """Item 6: no ATTACH of the published file read-write, no DROP through the query."""
    published = built_mesh.root / "published" / "mesh.duckdb"
    consumer = built_mesh.root / "published" / "consumers" / "data_science" / "mesh.duckdb"
    sql = f"attach '{published}' as p (read_only false); drop table p.sales.orders_v1"
    attach = duckmesh(built_mesh.root, "query", "--db", str(consumer), sql, check=False)
    assert attach.returncode == 1
    assert "duckmesh query: error: query refused: Permission Error:" in attach.stderr
    again = duckmesh(built_mesh.root, "query", sql, check=False)  # the file it has open
    assert again.returncode == 1
    assert "is already attached by database" in again.stderr
    drop = duckmesh(built_mesh.root, "query", "drop table sales.orders_v1", check=False)
    assert drop.returncode == 1
    assert "attached in read-only mode" in drop.stderr
    kept = duckmesh(built_mesh.root, "query", "select count(*) as n from sales.orders_v1",
                    "--json")
    assert kept.stdout.strip() == '{"n": 10000}'


@pytest.mark.parametrize("sql", [
    "select * from read_csv('/etc/passwd')",
    "copy (select 1 as x) to '{out}/x.csv'",
    "export database '{out}/export'",
    "attach '{out}/other.duckdb' as other",
    "install httpfs",
    "load httpfs",
    "select * from read_text('/etc/passwd')",
])
def test_query_cannot_touch_other_files_or_write(built_mesh: BuiltMesh, tmp_path: Path,
                                                 sql: str) -> None:
    result = duckmesh(built_mesh.root, "query", sql.format(out=tmp_path), check=False)
    assert result.returncode == 1
    assert "duckmesh query: error: query refused: Permission Error:" in result.stderr
    published = built_mesh.root / "published" / "mesh.duckdb"
    assert (f"`duckmesh query` reads the tables of {published} only; it reads no "
            "other file and writes nothing") in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_query_cannot_lift_the_lock(built_mesh: BuiltMesh) -> None:
    result = duckmesh(built_mesh.root, "query", "set enable_external_access = true",
                      check=False)
    assert result.returncode == 1
    assert 'Cannot change configuration option "enable_external_access"' in result.stderr


def test_a_consumer_file_reads_its_ports_and_nothing_else(built_mesh: BuiltMesh,
                                                         tmp_path: Path) -> None:
    """Issue 17: a consumer file's products are views over the snapshot's Parquet ports;
    the query allows exactly those files, read-only."""
    consumer = built_mesh.root / "published" / "consumers" / "data_science" / "mesh.duckdb"
    rows = duckmesh(built_mesh.root, "query", "--db", str(consumer),
                    "select count(*) as n from sales.orders", "--json")
    assert rows.stdout.strip() == '{"n": 10000}'
    ports = duckmesh(built_mesh.root, "query", "--db", str(consumer),
                     "select path from _duckmesh.ports order by path limit 1", "--json")
    port = json.loads(ports.stdout)["path"]
    for sql in (f"copy (select 1 as x) to '{port}'", "select * from read_csv('/etc/passwd')",
                f"copy (select 1 as x) to '{tmp_path}/x.csv'"):
        refused = duckmesh(built_mesh.root, "query", "--db", str(consumer), sql, check=False)
        assert refused.returncode == 1, sql
        assert "duckmesh query: error: query refused: Permission Error:" in refused.stderr
        assert (f"reads the tables of {consumer} only and the 9 Parquet port(s) its views "
                "read; it reads no other file and writes nothing") in refused.stderr
    assert list(tmp_path.iterdir()) == []
