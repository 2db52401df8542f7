"""After failed builds the catalog, its site
and the alerts describe the last good state and the failure exactly.

A copy of the session's built mesh is broken twice: a contract type mismatch (dbt fails
the customers model; its new column `region` never reaches the table) and then a P09
break (the contract retyped in place: governance stops the build before any model
runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import BuiltMesh, clone_built, duckmesh
from duckmesh.core import builddb

pytestmark = pytest.mark.e2e

CUSTOMERS = "urn:duckmesh:customers:customers:v1"
C360 = "urn:duckmesh:analytics:customer_360:v1"
ORDERS = "urn:duckmesh:sales:orders:v2"
CRM = "CRM Team <crm-team@duckmesh.example>"
ANALYTICS = "Central Analytics Team <analytics@duckmesh.example>"
GROWTH = "Growth Marketing Team <growth-marketing@duckmesh.example>"
SKIPPED = "was skipped because an upstream node failed in this run"
CARE = "Customer Care Team <customer-care@duckmesh.example>"
SALES = "Sales Ops Team <sales-ops@duckmesh.example>"
HELD = "not published: held back with its set: customers.customers_v1 is held back"
FIRST_FAILURE = [  # (product, owner, message) of the alerts the contract mismatch raises
    # before publish: the products built in this run but held back with the failed one
    ("customer_service.satisfaction", CARE, f"customer_service.satisfaction_v1 {HELD}"),
    ("marketing.attribution", GROWTH, f"marketing.attribution_v1 {HELD}"),
    ("sales.order_items", SALES, f"sales.order_items_v1 {HELD}"),
    # after the build: the failed product and those dbt skipped for it
    ("analytics.customer_360", ANALYTICS, "analytics.customer_360 v1: availability SLO "
     f"breached: analytics.customer_360_v1 {SKIPPED}"),
    ("analytics.executive_kpis", ANALYTICS, "analytics.executive_kpis v1: availability SLO "
     f"breached: analytics.executive_kpis_v1 {SKIPPED}"),
    ("customers.customers", CRM, "customers.customers v1: availability SLO breached: "
     "customers.customers_v1 failed to build in this run"),
    ("marketing.campaign_performance", GROWTH, "marketing.campaign_performance v1: "
     f"availability SLO breached: marketing.campaign_performance_v1 {SKIPPED}"),
]
P09 = ("[P09 error] domain customers, model.customers.customers.v1: breaking change to "
       "published product customers v1 without a new version: column country_code retyped "
       "varchar -> integer.")


def _rows(db: Path, query: str) -> list[tuple]:
    with builddb.connect(db, read_only=True) as con:
        return con.execute(query).fetchall()


def _catalog_state(db: Path) -> dict[str, list[tuple]]:
    """What the catalog tables say about the broken product and what reads it."""
    return {
        "columns": _rows(db, "select column_name, data_type from mesh_catalog.columns "
                             f"where product_id = '{CUSTOMERS}' order by position"),
        "lineage": _rows(db, "select product_id, column_name, from_id, from_column from "
                             "mesh_catalog.column_lineage where product_id in "
                             f"('{CUSTOMERS}', '{C360}') order by all"),
        "products": _rows(db, "select product_id, column_count from mesh_catalog.products "
                              "order by 1"),
    }


def _alerts(root: Path) -> list[dict]:
    listed = duckmesh(root, "alerts", "--fail-on", "never", "--json").stdout.splitlines()
    return [json.loads(line) for line in listed]


def test_failed_builds_leave_the_catalog_and_alerts_on_the_last_good_state(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    db = root / "mesh.duckdb"
    good = _catalog_state(db)
    table = _rows(db, "select column_name, lower(data_type) from information_schema.columns "
                      "where table_catalog = current_database() and "
                      "table_schema = 'customers' and table_name = 'customers_v1' "
                      "order by ordinal_position")
    # the last good state as the build described it: the table's columns, each fed
    assert good["columns"] == table and len(table) == 7
    assert {column for product, column, _, _ in good["lineage"] if product == C360} == {
        c for c, in _rows(db, "select column_name from mesh_catalog.columns "
                              f"where product_id = '{C360}'")}

    # 1. a contract type mismatch, and a new column that never reaches the table
    products = root / "domains" / "customers" / "models" / "products"
    sql = (products / "customers_v1.sql").read_text()
    (products / "customers_v1.sql").write_text(sql.replace(
        "        country_code,\n",
        "        cast(length(country_code) as integer) as country_code,\n"
        "        'EU' as region,\n"))
    yml = (products / "_products.yml").read_text()
    (products / "_products.yml").write_text(yml.replace(
        "      - name: customer_segment\n",
        "      - name: region\n        description: Sales region.\n"
        "        data_type: varchar\n      - name: customer_segment\n"))
    broken = duckmesh(root, "build", "--scale", "0.01", check=False)
    assert broken.returncode == 1
    assert "| country_code | INTEGER         | VARCHAR       | data type mismatch |" \
        in broken.stdout
    assert _catalog_state(db) == good  # region is not described: the table lacks it
    duckmesh(root, "catalog", "refresh")
    assert _catalog_state(db) == good
    alerts = _alerts(root)
    assert [(a["product"], a["owner"], a["message"], a["status"]) for a in alerts] == [
        (*alert, "open") for alert in FIRST_FAILURE]
    assert [line for line in broken.stdout.splitlines() if line.startswith("alert ")] == [
        f"alert {i} (error) {message} [owner: {owner}]"
        for i, (_, owner, message) in enumerate(FIRST_FAILURE, start=1)]
    # orders v2 was rebuilt incrementally: no column of it is fed by itself
    assert _rows(db, "select count(*) from mesh_catalog.column_lineage "
                     f"where product_id = '{ORDERS}' and from_id = '{ORDERS}'") == [(0,)]
    assert _rows(db, "select count(*) from mesh_catalog.column_lineage "
                     f"where product_id = '{ORDERS}'")[0][0] > 0
    site = tmp_path / "site"
    duckmesh(root, "catalog", "site", "--out", str(site))
    page = (site / "products" / "customers.customers.html").read_text()
    assert "<code>country_code</code></td><td>varchar</td>" in page
    assert "<td>published/customers/customers/v1/customers_v1.parquet</td>" in page
    assert "<code>region</code>" not in page
    assert len(json.loads((site / "catalog.json").read_text())) == 10
    published = (root / "published" / "current").resolve()

    # 2. the contract retyped in place: P09 stops the build before any model runs
    yml = (products / "_products.yml").read_text()
    (products / "_products.yml").write_text(yml.replace(
        "        description: ISO 3166-1 alpha-2 country of the billing address.\n"
        "        data_type: varchar\n",
        "        description: ISO 3166-1 alpha-2 country of the billing address.\n"
        "        data_type: integer\n"))
    stopped = duckmesh(root, "build", "--scale", "0.01", check=False)
    assert stopped.returncode == 1 and P09 in stopped.stdout
    assert "nothing published: the build failed before dbt wrote its results" in stopped.stdout
    assert (root / "published" / "current").resolve() == published
    assert _catalog_state(db) == good  # the manifest says integer; the table says varchar
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    assert manifest["nodes"]["model.customers.customers.v1"]["columns"]["country_code"][
        "data_type"] == "integer"
    [run_id] = [r for r, in _rows(db, "select run_id from mesh_observability.runs "
                                      "where node_count = 0")]
    built_nothing = (f"build {run_id} built nothing: it stopped before any model ran "
                     "(a check before dbt, governance, a parse or a compilation error); "
                     "every product keeps its last build: see the build's output or "
                     "logs/dbt.log")
    assert [(a["product"], a["message"], a["status"]) for a in _alerts(root)] == [
        *((product, message, "open") for product, _, message in FIRST_FAILURE),
        ("(mesh)", built_nothing, "open")]
    assert f"alert 8 (error) {built_nothing}" in stopped.stdout
    gate = duckmesh(root, "alerts", check=False)
    assert gate.returncode == 1
    assert gate.stderr.strip() == "duckmesh alerts: 8 open alert(s) of severity error"
    history = duckmesh(root, "history", "customers.customers").stdout.splitlines()
    assert history[2].split()[2:5] == [run_id, "error", "v1"]
