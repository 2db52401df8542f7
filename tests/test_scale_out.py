"""Scale out: the same mesh, unchanged, built on Apache Spark through dbt-spark
(a local SparkSession), and every product equal to the DuckDB build of the same data.

One Spark build per module (about 40 s on 2 cores at the test scale) in a copy of the
session's DuckDB-built mesh. `make test-engines` runs it, not `make test`. Needs the
`spark` extra (make test-engines installs it) and a Java runtime (a system package make
never installs: without one the module skips with the install command);
DUCKMESH_SKIP_SPARK=1 skips it explicitly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_SCALE, BuiltMesh, clone_built, duckmesh, without_producer_manifest
from duckmesh.core import builddb
from duckmesh.sources.generate import batch_counts, generate_batch

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("DUCKMESH_SKIP_SPARK") == "1",
                       reason="DUCKMESH_SKIP_SPARK=1"),
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="java not found: apt-get install -y openjdk-17-jre-headless "
                              "(or make java)"),
]

PRODUCTS = [
    "analytics.customer_360_v1", "analytics.executive_kpis_v1",
    "customer_service.satisfaction_v1", "customer_service.tickets_v1",
    "customers.customers_v1", "marketing.attribution_v1",
    "marketing.campaign_performance_v1", "sales.order_items_v1", "sales.orders_v1",
    "sales.orders_v2",
]
# merge products: Spark's Parquet tables have no MERGE, so they are rebuilt in full
FALLBACKS = ["model.marketing.attribution.v1", "model.sales.int_orders_totals",
             "model.sales.orders.v1", "model.sales.orders.v2"]


def parquet(spark_dir: Path, relation: str) -> str:
    schema, table = relation.split(".")
    return str(spark_dir / "warehouse" / f"{schema}.db" / table / "*.parquet")


class SparkMesh:
    def __init__(self, root: Path, spark_dir: Path, output: str) -> None:
        self.root, self.spark_dir, self.output = root, spark_dir, output

    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None):
        return duckmesh(self.root, *args, check=check,
                        env={"DUCKMESH_SPARK_DIR": str(self.spark_dir), **(env or {})})


@pytest.fixture(scope="module")
def spark_mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> SparkMesh:
    """The session's mesh (built on DuckDB), copied, then built again on Spark."""
    root = clone_built(built_mesh.root, tmp_path_factory.mktemp("spark") / "duckmesh")
    spark_dir = root / "target" / "spark"
    mesh = SparkMesh(root, spark_dir, "")
    mesh.output = mesh.run("scale-out", "build", "--scale", str(TEST_SCALE)).stdout
    return mesh


def test_the_whole_mesh_builds_on_spark_with_no_model_edits(spark_mesh: SparkMesh) -> None:
    out = spark_mesh.output
    assert "Registered adapter: spark=1.11.0" in out
    assert "Completed successfully" in out
    # 22 models, 2 seeds, 32 data tests (one unique_key per key) and 3 unit tests,
    # as on DuckDB; one hook per project
    assert ("Finished running 6 incremental models, 6 project hooks, 2 seeds, 7 table models, "
            "32 data tests, 3 unit tests, 9 view models") in out
    for relation in PRODUCTS:
        files = list(Path(parquet(spark_mesh.spark_dir, relation)).parent.glob("*.parquet"))
        assert files, relation


def test_governance_evaluates_the_same_and_names_the_engine_fallbacks(
        spark_mesh: SparkMesh, built_mesh: BuiltMesh) -> None:
    # DuckDB: no finding at all; Spark: the same policies, plus the merge fallbacks
    assert "DuckMesh governance: 0 error(s), 0 warning(s), 0 exempted, over 22 models " \
           "(10 public)" in built_mesh.build_output
    assert "DuckMesh governance: 0 error(s), 4 warning(s), 0 exempted, over 22 models " \
           "(10 public)" in spark_mesh.output
    for node in FALLBACKS:
        assert (f"[P10 warn] domain {node.split('.')[1]}, {node}: incremental model ") \
            in spark_mesh.output
    assert ("is rebuilt in full at every run on spark with parquet tables, which have no "
            "MERGE. Fix: on a cluster with Delta, Iceberg or Hudi set "
            "vars.duckmesh_spark_file_format to it") in spark_mesh.output


def test_every_product_on_spark_equals_the_duckdb_build(
        spark_mesh: SparkMesh, built_mesh: BuiltMesh) -> None:
    result = spark_mesh.run("scale-out", "compare", "--json")
    compared = {c["product"]: c for c in json.loads(result.stdout)}
    assert sorted(compared) == PRODUCTS
    with builddb.connect(built_mesh.db_path, read_only=True) as con:
        for relation, c in compared.items():
            rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
            assert rows > 0
            assert (c["duckdb_rows"], c["spark_rows"]) == (rows, rows), relation
            assert c["duckdb_checksum"] == c["spark_checksum"], relation
            assert c["equal"] and not c["only_in_duckdb"] and not c["only_in_spark"]


def test_duckdb_reads_what_spark_wrote(spark_mesh: SparkMesh, built_mesh: BuiltMesh) -> None:
    """A consumer reads Spark's Parquet with DuckDB; values recomputed from the sources."""
    data = built_mesh.data_dir
    with duckdb.connect() as con:
        con.execute("set timezone = 'UTC'")
        lines = con.execute(
            f"select quantity, unit_price, discount "
            f"from read_parquet('{data}/sales/order_lines/*.parquet')").fetchall()
        expected = sum(q * price - discount for q, price, discount in lines)
        assert isinstance(expected, Decimal)  # the source's decimal(10,2) prices
        items = parquet(spark_mesh.spark_dir, "sales.order_items_v1")
        assert con.execute(f"select sum(net_amount) from read_parquet('{items}')"
                           ).fetchone()[0] == expected
        # instants come back as instants (TIMESTAMP_MICROS, UTC), not INT96 wall clocks
        orders = parquet(spark_mesh.spark_dir, "sales.orders_v2")
        kind = con.execute(f"select typeof(ordered_at) from read_parquet('{orders}') limit 1"
                           ).fetchone()[0]
        assert kind == "TIMESTAMP WITH TIME ZONE"
        # pseudonymise(): Spark's sha2 and DuckDB's sha256 give the same hash
        customers = parquet(spark_mesh.spark_dir, "customers.customers_v1")
        hashes = dict(con.execute(f"select customer_id, email_hash from read_parquet('{customers}')"
                                  ).fetchall())
        crm = con.execute(f"select CUST_ID, EMAIL from read_csv('{data}/crm/customers.csv', "
                          "delim=';', header=true, all_varchar=true) limit 5").fetchall()
    salt = (spark_mesh.root / ".duckmesh" / "pii_salt").read_text()  # the copy's own secret
    for customer_id, email in crm:
        digest = hashlib.sha256((salt + email.strip().lower()).encode()).hexdigest()
        assert hashes[customer_id] == digest


def test_compare_names_a_product_that_differs(spark_mesh: SparkMesh, tmp_path: Path) -> None:
    copy = tmp_path / "spark"
    shutil.copytree(spark_mesh.spark_dir, copy, ignore=shutil.ignore_patterns("metastore_db"))
    folder = copy / "warehouse" / "marketing.db" / "campaign_performance_v1"
    files = sorted(folder.glob("*.parquet"))
    with duckdb.connect() as con:  # the same rows but one campaign's spend doubled
        con.execute(f"copy (select * replace (case when campaign_id = '1' then spend_amount * 2 "
                    f"else spend_amount end as spend_amount) from read_parquet('{folder}/*.parquet'))"
                    f" to '{tmp_path / 'changed.parquet'}' (format parquet)")
    for file in files:
        file.unlink()
    shutil.move(tmp_path / "changed.parquet", folder / "part-00000.parquet")
    result = duckmesh(spark_mesh.root, "scale-out", "compare", check=False,
                      env={"DUCKMESH_SPARK_DIR": str(copy)})
    assert result.returncode == 1
    assert "1 of 10 products differ: marketing.campaign_performance_v1" in result.stdout
    assert "marketing.campaign_performance_v1: only in DuckDB: ('1', " in result.stdout
    assert "marketing.campaign_performance_v1: only in Spark: ('1', " in result.stdout


# Last: it drops a new source batch into the module's mesh.
def test_a_new_batch_lands_the_same_on_both_engines(spark_mesh: SparkMesh) -> None:
    """New, late and re-sent orders: DuckDB merges them, Spark appends the new order lines
    and rebuilds the merge products (Parquet has no MERGE); the products stay equal. A bad
    CRM row in the same night is quarantined before either engine reads the file."""
    data_dir = spark_mesh.root / "data" / f"scale_{TEST_SCALE:g}"
    before = {c["product"]: c["spark_rows"] for c in json.loads(
        spark_mesh.run("scale-out", "compare", "--json").stdout)}
    generate_batch(data_dir, 2, log=lambda *_: None)
    without_producer_manifest(data_dir)  # the CRM's night: a producer that records nothing
    with (data_dir / "crm" / "customers.csv").open("a") as crm:
        crm.write("C99999999;Bad;Row;bad@example.com;+1;XX;consumer;31/02/2023;Y;not a time\n")
    # the models only on Spark: its data tests passed in the module's build, and the
    # products are compared with DuckDB's (which runs every test) below
    for command in (["build"], ["scale-out", "build", "--select", "resource_type:model"]):
        out = spark_mesh.run(*command, "--scale", str(TEST_SCALE)).stdout
        assert "1 quarantined -> quarantine.crm__customers" in out, command
    run_sql = spark_mesh.spark_dir / "dbt" / "run" / "sales" / "models" / "products"
    appended = (run_sql / "order_items_v1.sql").read_text().lower()
    assert "insert into" in appended and "create" not in appended
    assert "create table" in (run_sql / "orders_v2.sql").read_text().lower()
    after = json.loads(spark_mesh.run("scale-out", "compare", "--json").stdout)
    assert all(c["equal"] for c in after), [c["product"] for c in after if not c["equal"]]
    extra = batch_counts(TEST_SCALE, 2)
    rows = {c["product"]: c["spark_rows"] for c in after}
    assert rows["sales.orders_v2"] == (before["sales.orders_v2"] + extra["new_orders"]
                                       + extra["late_orders"])
    assert rows["sales.order_items_v1"] > before["sales.order_items_v1"]
    assert rows["customers.customers_v1"] == before["customers.customers_v1"]
