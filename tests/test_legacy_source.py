"""A legacy database as a source: the finance fixture domain reads the invoices table of
a PostgreSQL "ERP" that the test starts on 127.0.0.1 in a temporary folder
(benchmarks/pg_server.py). The table is landed through the dbt-duckdb plugin
(duckmesh.sources.legacy) and then held to its source contract like a file drop: rows
read, a bad row quarantined with its reason, a dropped column reported as drift, and
nothing published from a read that failed."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from benchmarks import pg_server
from conftest import TEST_SCALE, BuiltMesh, clone_built, duckmesh
from duckmesh.core import builddb

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(pg_server.missing() is not None,
                                 reason=str(pg_server.missing())),
              pytest.mark.skipif(importlib.util.find_spec("adbc_driver_postgresql") is None,
                                 reason="the legacy extra is not installed: make legacy")]

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_domain" / "finance"

# the ERP's invoices: (invoice_id, customer_id, issued_on, amount, status)
INVOICES = [
    (1001, "C00001", "2026-11-02", "120.50", "paid"),
    (1002, "C00002", "2026-11-03", "99.99", "open"),
    (1003, "C00003", None, "15.00", "open"),        # typed by hand: no issue date
    (1004, "C00001", "2026-11-05", "-40.00", "void"),  # below the contract's minimum
    (1005, "C00004", "2026-11-06", "1250.00", "open"),
]
GOOD = [row for row in INVOICES if row[2] is not None and Decimal(row[3]) >= 0]


def _execute(dsn: str, *statements: str) -> None:
    import adbc_driver_postgresql.dbapi as postgres

    with postgres.connect(dsn) as connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        connection.commit()


def _values(row: tuple) -> str:
    invoice_id, customer, issued, amount, status = row
    issued_sql = "null" if issued is None else f"date '{issued}'"
    return f"({invoice_id}, '{customer}', {issued_sql}, {amount}, '{status}')"


@pytest.fixture(scope="module")
def erp() -> Iterator[str]:
    with pg_server.postgres_server() as dsn:
        _execute(dsn,
                 "create table public.invoices (invoice_id integer primary key, "
                 "customer_id varchar(10), issued_on date, amount numeric(12, 2), "
                 "status text)",
                 "insert into public.invoices values "
                 + ", ".join(_values(row) for row in INVOICES),
                 # a read that loses its connection half-way (the server ends it)
                 "create view public.invoices_dropped as select i.*, "
                 "pg_terminate_backend(pg_backend_pid()) as cut from public.invoices i")
        yield dsn


@pytest.fixture(scope="module")
def finance_mesh(built_mesh: BuiltMesh, erp: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = clone_built(built_mesh.root, tmp_path_factory.mktemp("legacy") / "mesh")
    shutil.copytree(FIXTURE, work / "domains" / "finance")
    with (work / "packages.yml").open("a") as packages:
        packages.write("  - local: domains/finance\n")
    return work


def _landed(work: Path) -> Path:
    """Where the extract lands: the data set's folder (data/current points at the
    cleaned copy while rows are quarantined)."""
    return work / "data" / f"scale_{TEST_SCALE}" / "erp" / "invoices.parquet"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_legacy_table_is_landed_checked_quarantined_and_published(
        finance_mesh: Path, erp: str) -> None:
    result = duckmesh(finance_mesh, "build", env={"ERP_DSN": erp, "DUCKMESH_OPENLINEAGE": "1"})
    assert ("landed erp.invoices from legacy table public.invoices: 5 rows in "
            in result.stdout)
    # the build's OpenLineage events name the legacy table by OpenLineage's naming
    (events_file,) = (finance_mesh / "target" / "openlineage").glob("*.jsonl")
    assert (f"OpenLineage: 24 events (11 product runs) -> target/openlineage/"
            f"{events_file.name}") in result.stdout
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    (complete,) = [e for e in events if e["job"]["name"] == "finance.invoices_v1"
                   and e["eventType"] == "COMPLETE"]
    host_port = erp.rsplit("@", 1)[1].split("/")[0]
    assert [(i["namespace"], i["name"]) for i in complete["inputs"]] == [
        (f"postgres://{host_port}", "erp.public.invoices")]
    assert "-> erp/invoices.parquet" in result.stdout
    landed = _landed(finance_mesh)
    manifest = json.loads((landed.parent / "_manifest.json").read_text())
    assert manifest["files"]["invoices.parquet"]["rows"] == len(INVOICES)
    assert manifest["files"]["invoices.parquet"]["sha256"] == _digest(landed)

    con = builddb.connect(finance_mesh / "mesh.duckdb", read_only=True)
    try:
        # the database's types are kept: integer, date, numeric(12, 2)
        types = dict(con.execute(
            f"select column_name, column_type from (describe select * from "
            f"read_parquet('{landed}'))").fetchall())
        published = con.execute(
            "select invoice_id, customer_id, cast(issued_on as varchar), "
            "cast(invoice_amount as varchar), invoice_status "
            "from finance.invoices_v1 order by 1").fetchall()
        quarantined = sorted(con.execute(
            "select * from quarantine.erp__invoices").fetchall())
        inputs = con.execute(
            "select from_id, from_kind, from_location from mesh_catalog.lineage "
            "where to_id = 'urn:duckmesh:finance:invoices:v1'").fetchall()
    finally:
        con.close()
    assert types == {"invoice_id": "INTEGER", "customer_id": "VARCHAR", "issued_on": "DATE",
                     "amount": "DECIMAL(12,2)", "status": "VARCHAR"}
    assert published == [(str(i), c, d, a, s) for i, c, d, a, s in GOOD]
    assert len(quarantined) == 2, quarantined
    text = " ".join(str(v) for row in quarantined for v in row)
    assert "issued_on" in text and "amount" in text, quarantined
    assert inputs == [("urn:duckmesh:finance:source:erp.invoices", "source",
                       "postgres:public.invoices ($ERP_DSN)")]


def test_a_dropped_column_is_drift_and_publishes_nothing(
        finance_mesh: Path, erp: str) -> None:
    before = _digest(finance_mesh / "published" / "mesh.duckdb")
    _execute(erp, "alter table public.invoices rename to invoices_full",
             "create table public.invoices as select invoice_id, customer_id, issued_on, "
             "amount from public.invoices_full")
    try:
        result = duckmesh(finance_mesh, "build", env={"ERP_DSN": erp}, check=False)
    finally:
        _execute(erp, "drop table public.invoices",
                 "alter table public.invoices_full rename to invoices")
    assert result.returncode == 1, result.stdout
    assert "schema drift in erp.invoices: column removed: status (" in result.stdout
    assert ("duckmesh build: error: source erp.invoices: schema drift column removed: status "
            "(missing from the file): fix the export or update the columns of erp.invoices "
            "in domains/finance/models/staging/__sources.yml") in result.stderr
    assert _digest(finance_mesh / "published" / "mesh.duckdb") == before


def test_a_connection_lost_mid_read_lands_nothing(finance_mesh: Path, erp: str) -> None:
    landed = _landed(finance_mesh)
    kept = _digest(landed)
    sources = finance_mesh / "domains" / "finance" / "models" / "staging" / "__sources.yml"
    original = sources.read_text()
    sources.write_text(original.replace("table: public.invoices",
                                        "table: public.invoices_dropped"))
    try:
        result = duckmesh(finance_mesh, "build", env={"ERP_DSN": erp}, check=False)
    finally:
        sources.write_text(original)
    assert result.returncode != 0
    port = erp.rsplit("@", 1)[1]
    assert (f"source erp.invoices (legacy table public.invoices_dropped, domains/finance): "
            f"reading it from {port} failed: FATAL: terminating connection due to "
            "administrator command: nothing was landed (the last extract, if any, is kept); "
            "check ERP_DSN and the database, then build again") in result.stdout + result.stderr
    assert _digest(landed) == kept
    assert not list(landed.parent.glob(".*landing"))


def test_wrong_or_missing_credentials_are_one_line_without_the_password(
        finance_mesh: Path, erp: str) -> None:
    wrong = erp.replace(":legacy@", ":not-the-password@")
    result = duckmesh(finance_mesh, "build", env={"ERP_DSN": wrong}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'password authentication failed for user "erp"' in output
    assert "not-the-password" not in output
    assert "Traceback" not in output

    missing = duckmesh(finance_mesh, "build", env={"ERP_DSN": ""}, check=False)
    assert ("source erp.invoices (legacy table public.invoices, domains/finance): set ERP_DSN "
            "to the legacy database's connection string "
            "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE)") in missing.stdout + missing.stderr
