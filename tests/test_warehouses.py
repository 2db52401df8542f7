"""The same mesh, unchanged, built on Snowflake and BigQuery through their dbt adapters,
against local emulators (fakesnow, crucible), and every product equal to the DuckDB build
of the same data (docs/warehouses.md).

Marked `warehouses`: `make test-warehouses` runs them, `make test` does not. Each
warehouse needs its venv (make warehouses); without it the module skips with that
command. One emulator and one warehouse build per warehouse, in a copy of the session's
DuckDB-built mesh. What an emulator cannot do that the warehouse does is named in the
test that meets it: fakesnow runs no dbt unit test and no second incremental run (so
`warehouse build` runs it with --full-refresh), crucible has no parameterised NUMERIC in
a query's result (money columns are NUMERIC there).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, TEST_SCALE, BuiltMesh, clone_built, duckmesh
from duckmesh.core import builddb
from duckmesh.scaleout.warehouse import WAREHOUSES, Warehouse, free_port, running_emulator
from duckmesh.sources.generate import batch_counts, generate_batch

pytestmark = [pytest.mark.warehouses, pytest.mark.e2e]

PRODUCTS = [
    "analytics.customer_360_v1", "analytics.executive_kpis_v1",
    "customer_service.satisfaction_v1", "customer_service.tickets_v1",
    "customers.customers_v1", "marketing.attribution_v1",
    "marketing.campaign_performance_v1", "sales.order_items_v1", "sales.orders_v1",
    "sales.orders_v2",
]


ADAPTERS = {"snowflake": "snowflake=1.12.4", "bigquery": "bigquery=1.12.1"}


@dataclass
class WarehouseMesh:
    warehouse: Warehouse
    root: Path
    env: dict[str, str]  # what points the profile at the emulator
    output: str

    def run(self, *args: str, check: bool = True):
        return duckmesh(self.root, *args, check=check, env=self.env)

    def client(self, code: str) -> str:
        """Python in the warehouse's venv with a connected client as ``client``."""
        plan = json.dumps({"root": str(self.root), "target": self.warehouse.target, "emulated": True})
        script = ("import json\nfrom duckmesh.scaleout.warehouse_client import connect\n"
                  f"client = connect(json.loads({plan!r}))\n{code}")
        result = subprocess.run(
            [str(REPO / self.warehouse.venv / "bin" / "python"), "-c", script],
            env={**os.environ, **self.env, "PYTHONPATH": str(REPO / "scripts")},
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout


@pytest.fixture(scope="module", params=sorted(WAREHOUSES))
def warehouse_mesh(request: pytest.FixtureRequest, built_mesh: BuiltMesh,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseMesh]:
    """The session's mesh (built on DuckDB), copied, then built again on the emulator."""
    wh = WAREHOUSES[request.param]
    if not (REPO / wh.venv / "bin" / "dbt").is_file():
        pytest.skip(f"{wh.venv}/ not found: make warehouses")
    with running_emulator(wh, free_port()) as env:
        root = clone_built(built_mesh.root, tmp_path_factory.mktemp(wh.target) / "duckmesh")
        mesh = WarehouseMesh(wh, root, env, "")
        mesh.output = mesh.run("warehouse", "build", "--target", wh.target,
                               "--scale", str(TEST_SCALE)).stdout
        yield mesh


def test_the_whole_mesh_builds_on_the_warehouse_with_no_model_edits(
        warehouse_mesh: WarehouseMesh) -> None:
    out = warehouse_mesh.output
    assert f"Registered adapter: {ADAPTERS[warehouse_mesh.warehouse.target]}" in out
    assert "8 tables loaded" in out  # 6 file sources, the PII salt, the governance files
    assert "DuckMesh governance: 0 error(s), 0 warning(s), 0 exempted, over 22 models " \
           "(10 public)" in out
    assert "Completed successfully" in out
    if warehouse_mesh.warehouse.target == "snowflake":
        # fakesnow cannot run dbt's unit tests: the build leaves them out there (DuckDB
        # and BigQuery run them); a real Snowflake account runs all three
        assert ("Finished running 6 incremental models, 6 project hooks, 2 seeds, "
                "7 table models, 32 data tests, 9 view models") in out
    else:
        assert ("Finished running 6 incremental models, 6 project hooks, 2 seeds, "
                "7 table models, 32 data tests, 3 unit tests, 9 view models") in out


def test_every_product_on_the_warehouse_equals_the_duckdb_build(
        warehouse_mesh: WarehouseMesh, built_mesh: BuiltMesh) -> None:
    target = warehouse_mesh.warehouse.target
    result = warehouse_mesh.run("warehouse", "compare", "--target", target, "--json")
    compared = {c["product"]: c for c in json.loads(result.stdout)}
    assert sorted(compared) == PRODUCTS
    with builddb.connect(built_mesh.db_path, read_only=True) as con:
        for relation, c in compared.items():
            rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
            assert rows > 0
            assert (c["duckdb_rows"], c["warehouse_rows"]) == (rows, rows), relation
            assert c["equal"] and not c["only_in_duckdb"] and not c["only_in_warehouse"], relation
    text = warehouse_mesh.run("warehouse", "compare", "--target", target).stdout
    assert f"all 10 product versions are equal on {target} and DuckDB" in text


def test_the_warehouse_hashes_pii_with_the_installation_salt(
        warehouse_mesh: WarehouseMesh, built_mesh: BuiltMesh) -> None:
    """pseudonymise() on the warehouse (Snowflake sha2, BigQuery to_hex(sha256)) gives
    the hash computed here from the CRM file and the copy's own salt."""
    target = warehouse_mesh.warehouse.target
    table = "duckmesh.customers.customers_v1" if target == "snowflake" \
        else "`local-project`.customers.customers_v1"
    hashes = dict(json.loads(warehouse_mesh.client(
        f"print(__import__('json').dumps(client.run('select customer_id, email_hash from {table}')))")))
    with duckdb.connect() as con:
        crm = con.execute(f"select CUST_ID, EMAIL from read_csv('{built_mesh.data_dir}/crm/customers.csv', "
                          "delim=';', header=true, all_varchar=true) limit 5").fetchall()
    salt = (warehouse_mesh.root / ".duckmesh" / "pii_salt").read_text().strip()
    for customer_id, email in crm:
        assert hashes[customer_id] == hashlib.sha256((salt + email.strip().lower()).encode()).hexdigest()


def test_dbt_alone_on_an_unloaded_warehouse_names_the_load_step(
        warehouse_mesh: WarehouseMesh) -> None:
    """Plain `dbt build` where the sources were never loaded (here: another metadata
    schema) stops before any model with the command that loads them."""
    target = warehouse_mesh.warehouse.target
    result = subprocess.run(
        [str(REPO / warehouse_mesh.warehouse.venv / "bin" / "dbt"), "build", "--target", target,
         "--profiles-dir", "profiles", "--select", "stg_crm__customers",
         "--target-path", "target/warehouses/unloaded", "--vars",
         '{"duckmesh_warehouse_meta_schema": "nowhere", "duckmesh_bigquery_numeric_parameters": false}'],
        cwd=warehouse_mesh.root, capture_output=True, text=True, timeout=300,
        env={**os.environ, **warehouse_mesh.env,
             "DUCKMESH_DATA": str(warehouse_mesh.root / "data" / f"scale_{TEST_SCALE:g}"),
             "DUCKMESH_PLATFORM": "macros", "DUCKMESH_DOMAINS": "domains"})
    assert result.returncode != 0
    database = "duckmesh" if target == "snowflake" else "local-project"
    assert (f"DuckMesh: the {target} target ({target}, database {database}) has no "
            f"nowhere.pii_salt, nowhere.text_files: load the sources first with "
            f"`duckmesh warehouse build --target {target}`") in result.stdout


# It changes a product in the module's warehouse (the next test rebuilds it).
def test_compare_names_a_product_that_differs(warehouse_mesh: WarehouseMesh) -> None:
    target = warehouse_mesh.warehouse.target
    table = "duckmesh.marketing.campaign_performance_v1" if target == "snowflake" \
        else "`local-project`.marketing.campaign_performance_v1"
    doubled = "case when campaign_id = '1' then spend_amount * 2 else spend_amount end"
    change = (f"update {table} set spend_amount = {doubled}" if target == "snowflake" else
              # crucible has no UPDATE: the table again, one campaign's spend doubled
              f"create or replace table {table} as select * except (spend_amount), "
              f"{doubled} as spend_amount from {table}")
    warehouse_mesh.client(f"client.run({change!r})")
    result = warehouse_mesh.run("warehouse", "compare", "--target", target, check=False)
    assert result.returncode == 1
    assert "1 of 10 products differ: marketing.campaign_performance_v1" in result.stdout
    assert "marketing.campaign_performance_v1: only in DuckDB: ('1', " in result.stdout
    assert f"marketing.campaign_performance_v1: only in {target}: ('1', " in result.stdout


def test_no_emulator_running_is_one_line_with_the_fix(mesh_copy: Path) -> None:
    if not (REPO / ".venv-snowflake" / "bin" / "dbt").is_file():
        pytest.skip(".venv-snowflake/ not found: make warehouses")
    port = free_port()  # nothing listens there
    result = duckmesh(mesh_copy, "warehouse", "build", "--target", "snowflake", check=False,
                      env={"SNOWFLAKE_PORT": str(port)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"duckmesh warehouse: error: snowflake target: nothing answers at 127.0.0.1:{port} "
        "(Connection refused). Fix: start the emulator (.venv-snowflake/bin/fakesnow -s "
        f"--host 127.0.0.1 -p {port}) or point SNOWFLAKE_HOST and SNOWFLAKE_PORT at it "
        f"(now 127.0.0.1:{port})"]
    assert not (mesh_copy / "data").exists()  # stopped before anything ran


# Last: it drops a new source batch into the module's mesh.
def test_a_new_batch_lands_the_same_on_both_engines(warehouse_mesh: WarehouseMesh) -> None:
    """New, late and re-sent orders: DuckDB and the warehouse merge them (BigQuery's
    order lines by a merge without a key, its append), and the products stay equal."""
    target = warehouse_mesh.warehouse.target
    if target == "snowflake":
        pytest.skip("fakesnow runs no second incremental run (its temporary views): "
                    "`warehouse build` rebuilds in full there; a real account merges")
    data_dir = warehouse_mesh.root / "data" / f"scale_{TEST_SCALE:g}"
    # the previous test changed a product: the JSON is followed by the names of those differing
    differing = warehouse_mesh.run("warehouse", "compare", "--target", target, "--json", check=False)
    before = {c["product"]: c["warehouse_rows"]
              for c in json.JSONDecoder().raw_decode(differing.stdout)[0]}
    generate_batch(data_dir, 2, log=lambda *_: None)
    warehouse_mesh.run("build", "--scale", str(TEST_SCALE))
    warehouse_mesh.run("warehouse", "build", "--target", target, "--scale", str(TEST_SCALE))
    run_sql = warehouse_mesh.root / "target" / "warehouses" / target / "dbt" / "run" / "sales" \
        / "models" / "products"
    appended = (run_sql / "order_items_v1.sql").read_text().lower()
    assert "merge into" in appended and "create or replace table" not in appended
    after = json.loads(warehouse_mesh.run("warehouse", "compare", "--target", target, "--json").stdout)
    assert all(c["equal"] for c in after), [c["product"] for c in after if not c["equal"]]
    extra = batch_counts(TEST_SCALE, 2)
    rows = {c["product"]: c["warehouse_rows"] for c in after}
    assert rows["sales.orders_v2"] == (before["sales.orders_v2"] + extra["new_orders"]
                                       + extra["late_orders"])
    assert rows["sales.order_items_v1"] > before["sales.order_items_v1"]
