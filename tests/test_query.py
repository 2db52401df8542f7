"""`duckmesh query` reads the published mesh and nothing else."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import BuiltMesh, duckmesh
from duckmesh.core import builddb

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
                                               "customers", "marketing", "mesh_catalog",
                                               "sales")]


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
    """A consumer file's products are views over the snapshot's Parquet ports;
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


# -- the sandbox's allowed paths come from the project; no tracebacks -----------

def crafted(path: Path, ports: list[str], view_reads: str | None = None) -> Path:
    """A DuckDB file that lists ``ports`` in its own ``_duckmesh.ports``, as a consumer
    file does, and a view ``leak`` over ``view_reads``."""
    with builddb.connect(path) as con:
        con.execute("create schema _duckmesh")
        con.execute("create table _duckmesh.ports (relation varchar, path varchar)")
        con.executemany("insert into _duckmesh.ports values ('x.y_v1', ?)", [[p] for p in ports])
        if view_reads:
            con.execute(f"create view leak as select * from read_text('{view_reads}')")
    return path


@pytest.mark.parametrize("target", ["/etc/passwd", ".duckmesh/pii_salt"])
def test_a_file_listing_other_files_as_ports_is_refused(built_mesh: BuiltMesh, tmp_path: Path,
                                                        target: str) -> None:
    """The probe's crafted file listed /etc/passwd or the salt as its ports, and the
    query printed them: the allowed paths came from the file it opened."""
    listed = target if target.startswith("/") else str(built_mesh.root / target)
    db = crafted(tmp_path / "crafted.duckdb", [listed], view_reads=listed)
    result = duckmesh(built_mesh.root, "query", "--db", str(db), "select * from leak",
                      check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"duckmesh query: error: {db} lists 1 port file(s) that are not Parquet ports of this "
        f"mesh's published snapshots ({listed}): `duckmesh query` reads only ports under "
        "published/snapshots/<id>/ports/. Fix: query a file `duckmesh publish` wrote for "
        "this mesh\n")
    assert result.stdout == ""


def test_a_file_listing_real_ports_and_others_reads_none_of_the_others(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    """A port of this mesh listed beside /etc/passwd does not open the door."""
    consumer = built_mesh.root / "published" / "consumers" / "data_science" / "mesh.duckdb"
    with duckdb.connect(str(consumer), read_only=True) as con:
        port = con.execute("select path from _duckmesh.ports order by path limit 1").fetchone()[0]
    db = crafted(tmp_path / "crafted.duckdb", [port, "/etc/passwd"])
    result = duckmesh(built_mesh.root, "query", "--db", str(db),
                      "select * from read_text('/etc/passwd')", check=False)
    assert result.returncode == 1
    assert "that are not Parquet ports of this mesh's published snapshots (/etc/passwd)" \
        in result.stderr
    alone = crafted(tmp_path / "ports_only.duckdb", [port])
    rows = duckmesh(built_mesh.root, "query", "--db", str(alone),
                    f"select count(*) as n from read_parquet('{port}')", "--json")
    assert json.loads(rows.stdout)["n"] > 0
    refused = duckmesh(built_mesh.root, "query", "--db", str(alone),
                       "select * from read_text('/etc/passwd')", check=False)
    assert refused.returncode == 1
    assert "query refused: Permission Error:" in refused.stderr


def test_the_build_database_is_private_even_as_a_copy(built_mesh: BuiltMesh,
                                                      tmp_path: Path) -> None:
    """The probe's `--db mesh.duckdb` opened the domains' working area without a word."""
    private = ("is the build database, the domains' private working area (staging views "
               "with names, e-mails and phone numbers; quarantined raw source lines), which "
               "`duckmesh query` never opens. Fix: query what consumers read: "
               "published/mesh.duckdb (the default) or published/consumers/<name>/mesh.duckdb "
               "(docs/privacy.md)\n")
    for db in (built_mesh.db_path, shutil.copy(built_mesh.db_path, tmp_path / "copy.duckdb")):
        result = duckmesh(built_mesh.root, "query", "--db", str(db),
                          "select email from customers.stg_crm__customers", check=False)
        assert result.returncode == 2
        assert result.stderr == f"duckmesh query: error: --db {db} {private}"
        assert result.stdout == ""


def _corrupt(path: Path) -> None:
    """A DuckDB file with 300 KB of random bytes in its middle: checksums fail on open."""
    with builddb.connect(path) as con:
        con.execute("create table t as select range as i, repeat('x', 50) as s "
                    "from range(200000)")
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + random.Random(27).randbytes(300_000)
                     + data[middle + 300_000:])


@pytest.mark.parametrize(("case", "code", "message"), [
    ("empty SQL", 2, "no SQL given: pass one query, e.g. `duckmesh query \"select count(*) as n "
                     "from sales.orders\"`"),
    ("blank SQL", 2, "no SQL given: pass one query, e.g. `duckmesh query \"select count(*) as "
                     "n from sales.orders\"`"),
    ("a comment only", 2, "the SQL holds no query that returns rows (only comments or a "
                          "statement without a result): pass a SELECT"),
    ("a corrupt file", 1, "cannot open {db}: it is not a readable DuckDB database (Corrupt "
                          "database file: computed checksum"),
    ("an empty file", 1, "cannot open {db}: it is not a readable DuckDB database (IO Error: "
                         "The file \"{db}\" exists, but it is not a valid DuckDB database "
                         "file!). Fix: give --db a file `duckmesh publish` wrote "
                         "(published/mesh.duckdb or published/consumers/<name>/mesh.duckdb), "
                         "or publish again to rewrite it"),
    ("a folder", 2, "--db {db} is not a file: give a DuckDB file, published/mesh.duckdb or "
                    "published/consumers/<name>/mesh.duckdb"),
])
def test_bad_query_input_ends_in_one_line(built_mesh: BuiltMesh, tmp_path: Path, case: str,
                                          code: int, message: str) -> None:
    """`query ''` and `query --db` on a corrupt file gave tracebacks."""
    sql, db = "select 1 as x", None
    if case == "empty SQL":
        sql = ""
    elif case == "blank SQL":
        sql = "  ; "
    elif case == "a comment only":
        sql = "/* nothing */"
    elif case == "a corrupt file":
        db = tmp_path / "corrupt.duckdb"
        _corrupt(db)
    elif case == "an empty file":
        db = tmp_path / "empty.duckdb"
        db.write_bytes(b"")
    else:
        db = tmp_path
    args = ["query", *(["--db", str(db)] if db else []), sql]
    result = duckmesh(built_mesh.root, *args, check=False)
    assert result.returncode == code
    assert result.stderr.startswith("duckmesh query: error: " + message.format(db=db))
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
