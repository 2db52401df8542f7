"""The catalog: descriptors (ODCS v3 valid), mesh_catalog tables, lineage, CLI, drift check.

Expectations are computed independently: from the domains' yml files, dbt's manifest
and the built database, never from the catalog's own code paths.
"""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest
import yaml

from conftest import duckmesh
from duckmesh.catalog.lineage import analyse_model
from duckmesh.core import builddb

PUBLIC = "urn:duckmesh"


@pytest.fixture(scope="module")
def manifest(built_mesh) -> dict:
    return json.loads((built_mesh.root / "target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def public_models(manifest) -> dict[str, dict]:
    """urn -> manifest node, for every public model version."""
    return {f"{PUBLIC}:{n['group']}:{n['name']}:v{n['version']}": n
            for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n.get("access") == "public"}


@pytest.fixture(scope="module")
def con(built_mesh):
    connection = builddb.connect(built_mesh.db_path, read_only=True)
    yield connection
    connection.close()


def _rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def _odcs_validator():
    schema = json.loads(resources.files("open_data_contract_standard")
                        .joinpath("schema.json").read_text())
    return jsonschema.validators.validator_for(schema)(schema)


# --- descriptors ----------------------------------------------------------------------

def test_every_public_version_has_a_valid_odcs_contract_and_odps_descriptor(
        built_mesh, public_models):
    contracts = built_mesh.root / "target" / "catalog" / "contracts"
    validator = _odcs_validator()
    assert len(public_models) == 10
    for urn, node in public_models.items():
        stem = contracts / node["group"] / f"{node['name']}_v{node['version']}"
        contract = yaml.safe_load(stem.with_suffix(".odcs.yaml").read_text())
        errors = [e.message for e in validator.iter_errors(contract)]
        assert errors == [], f"{urn}: {errors}"
        assert contract["id"] == urn
        assert contract["kind"] == "DataContract"
        [table] = contract["schema"]
        # the table in the servers' schema; timestamp with time zone as datacontract-cli
        # reads it (the mesh's type table), every other type as the contract writes it
        assert table["physicalName"] == node["alias"]
        assert contract["servers"][0]["schema"] == node["schema"]
        assert [(p["name"], p["physicalType"]) for p in table["properties"]] == [
            (c["name"], "timestamp_tz" if c["data_type"] == "timestamp with time zone"
             else c["data_type"]) for c in node["columns"].values()]
        product = yaml.safe_load(stem.with_suffix(".odps.yaml").read_text())
        assert product["id"] == urn and product["kind"] == "DataProduct"
        [port] = product["outputPorts"]
        assert {p["property"]: p["value"] for p in port["customProperties"]}["relation"] == \
            f"{node['schema']}.{node['alias']}"
    # exactly the public versions, nothing stale
    assert len(list(contracts.rglob("*.odcs.yaml"))) == len(public_models)
    assert len(list(contracts.rglob("*.odps.yaml"))) == len(public_models)


def test_contract_carries_owner_deprecation_slos_and_tests(built_mesh):
    contracts = built_mesh.root / "target" / "catalog" / "contracts"
    groups = yaml.safe_load((built_mesh.root / "domains/sales/models/_groups.yml").read_text())
    owner = groups["groups"][0]["owner"]
    v1 = yaml.safe_load((contracts / "sales/orders_v1.odcs.yaml").read_text())
    v2 = yaml.safe_load((contracts / "sales/orders_v2.odcs.yaml").read_text())
    assert v1["status"] == "deprecated" and v2["status"] == "active"
    assert v1["team"]["members"][0]["username"] == owner["email"]
    assert v1["team"]["name"] == owner["name"]
    assert {"property": "endOfSupport", "value": "2027-06-30", "id": "end_of_support"} \
        in v1["slaProperties"]
    products = yaml.safe_load(
        (built_mesh.root / "domains/sales/models/products/_products.yml").read_text())
    slo = next(m for m in products["models"] if m["name"] == "orders")["config"]["meta"]["slo"]
    expected = {"latency": slo["freshness_hours"]}
    expected.update({key: value if isinstance(value, (str, int, float)) else json.dumps(value)
                     for key, value in slo.items() if key not in ("freshness_hours", "min_rows")})
    assert {s["property"]: s["value"] for s in v2["slaProperties"]} == expected
    props = {p["name"]: p for p in v2["schema"][0]["properties"]}
    assert props["order_id"]["primaryKey"] is True and props["order_id"]["required"] is True
    assert sorted(q["metric"] for q in props["order_id"]["quality"]) == [
        "duplicateValues", "nullValues"]
    accepted = props["order_status"]["quality"][0]
    assert accepted["arguments"]["validValues"] == [
        "placed", "shipped", "delivered", "returned", "cancelled"]
    [row_count] = v2["schema"][0]["quality"]
    assert row_count["metric"] == "rowCount"
    assert row_count["mustBeGreaterOrEqualTo"] == slo["min_rows"]
    assert v2["servers"][0] == {"id": "duckdb", "server": "duckdb", "type": "duckdb",
                                "database": "mesh.duckdb", "schema": "sales"}


def test_the_odcs_schema_check_rejects_a_broken_contract(built_mesh):
    contracts = built_mesh.root / "target" / "catalog" / "contracts"
    contract = yaml.safe_load((contracts / "sales/orders_v2.odcs.yaml").read_text())
    contract["schema"][0]["properties"][0]["logicalType"] = "text"
    del contract["apiVersion"]
    messages = [e.message for e in _odcs_validator().iter_errors(contract)]
    assert any("'apiVersion' is a required property" in m for m in messages)
    assert any("'text' is not one of" in m for m in messages)


# --- mesh_catalog tables --------------------------------------------------------------

def test_products_table_has_one_row_per_version_with_live_row_counts(con, public_models):
    rows = _rows(con, "select product_id, domain, product, version, is_latest, status, "
                      "relation, row_count, owner_email from mesh_catalog.products")
    assert {r[0] for r in rows} == set(public_models)
    for urn, domain, product, version, is_latest, status, relation, count, email in rows:
        node = public_models[urn]
        assert (domain, product, version) == (node["group"], node["name"], node["version"])
        assert is_latest == (node["version"] == node["latest_version"])
        assert status == ("deprecated" if node.get("deprecation_date") else "active")
        [(actual,)] = _rows(con, f"select count(*) from {relation}")
        assert count == actual
        assert email.endswith("@duckmesh.example")


def test_columns_table_matches_the_built_relations(con, public_models):
    for urn, node in public_models.items():
        expected = _rows(
            con, "select column_name from information_schema.columns where table_catalog = "
                 f"current_database() and table_schema = '{node['schema']}' and table_name = "
                 f"'{node['alias']}' order by ordinal_position")
        catalogued = _rows(con, f"select column_name from mesh_catalog.columns where "
                                f"product_id = '{urn}' order by position")
        assert catalogued == expected, urn


def test_domains_table_lists_each_groups_owner(con, built_mesh):
    expected = {}
    for path in [built_mesh.root / "models/_groups.yml",
                 *built_mesh.root.glob("domains/*/models/_groups.yml")]:
        for group in yaml.safe_load(path.read_text())["groups"]:
            expected[group["name"]] = (group["owner"]["name"], group["owner"]["email"])
    rows = _rows(con, "select domain, owner_name, owner_email, product_count, version_count "
                      "from mesh_catalog.domains order by domain")
    assert {r[0]: (r[1], r[2]) for r in rows} == expected
    counts = {r[0]: (r[3], r[4]) for r in rows}
    assert counts["sales"] == (2, 3)  # orders (v1, v2) and order_items
    assert counts["analytics"] == (2, 2)


def test_lineage_edges_of_known_products(con):
    def inputs(urn: str) -> set[tuple[str, str]]:
        return set(_rows(con, f"select from_id, from_kind from mesh_catalog.lineage "
                              f"where to_id = '{urn}'"))

    assert inputs(f"{PUBLIC}:analytics:customer_360:v1") == {
        (f"{PUBLIC}:customers:customers:v1", "product"),
        (f"{PUBLIC}:sales:orders:v2", "product"),
        (f"{PUBLIC}:customer_service:satisfaction:v1", "product"),
        (f"{PUBLIC}:marketing:attribution:v1", "product")}
    assert inputs(f"{PUBLIC}:sales:order_items:v1") == {
        (f"{PUBLIC}:sales:source:order_system.order_lines", "source"),
        (f"{PUBLIC}:sales:seed:products", "seed")}
    assert inputs(f"{PUBLIC}:customers:customers:v1") == {
        (f"{PUBLIC}:customers:source:crm.customers", "source")}


def test_column_lineage_through_private_models(con):
    def fed_by(urn: str, column: str) -> set[tuple[str, str]]:
        return set(_rows(con, f"select from_id, from_column from mesh_catalog.column_lineage "
                              f"where product_id = '{urn}' and column_name = '{column}'"))

    crm = f"{PUBLIC}:customers:source:crm.customers"
    lines = f"{PUBLIC}:sales:source:order_system.order_lines"
    assert fed_by(f"{PUBLIC}:customers:customers:v1", "country_code") == {(crm, "country")}
    assert fed_by(f"{PUBLIC}:customers:customers:v1", "email_hash") == {(crm, "email")}
    assert fed_by(f"{PUBLIC}:sales:order_items:v1", "product_name") == {
        (f"{PUBLIC}:sales:seed:products", "product_name")}
    assert fed_by(f"{PUBLIC}:sales:orders:v2", "net_amount") == {
        (lines, "quantity"), (lines, "unit_price"), (lines, "discount")}
    assert fed_by(f"{PUBLIC}:analytics:customer_360:v1", "avg_csat_score") == {
        (f"{PUBLIC}:customer_service:satisfaction:v1", "avg_csat_score")}
    assert fed_by(f"{PUBLIC}:sales:orders:v2", "item_count") == set()  # count(*)


def test_consumers_table_names_the_columns_each_consumer_reads(con):
    rows = _rows(con, "select consumer_name, consumer_kind, column_name from "
                      "mesh_catalog.consumers where product_id = 'urn:duckmesh:sales:orders:v2'")
    by_consumer: dict[tuple[str, str], set[str]] = {}
    for name, kind, column in rows:
        by_consumer.setdefault((name, kind), set()).add(column)
    assert by_consumer[("customer_360_v1", "product")] == {
        "customer_id", "is_cancelled", "net_amount", "ordered_at"}
    assert ("int_sales__orders", "model") in by_consumer  # marketing's import of orders
    assert ("orders_v2", "product") not in by_consumer


# --- lineage unit ---------------------------------------------------------------------

def test_lineage_follows_ctes_stars_and_unions_by_name():
    sql = """
        with a as (select * from db.s.src), b as (select x + y as total, z from a)
        select total, z as zed from b
        union all
        select amount, k from db.s.other
    """
    relations = {"db.s.src": "source.p.src", "db.s.other": "model.p.other"}
    result = analyse_model(sql, {}, relations)
    assert result.error is None
    assert result.columns == {
        "total": {("source.p.src", "x"), ("source.p.src", "y"), ("model.p.other", "amount")},
        "zed": {("source.p.src", "z"), ("model.p.other", "k")}}


# --- CLI ------------------------------------------------------------------------------

def test_cli_list_show_search_lineage(built_mesh, public_models):
    listed = json.loads(duckmesh(built_mesh.root, "catalog", "list", "--json").stdout)
    assert {p["id"] for p in listed} == set(public_models)

    shown = duckmesh(built_mesh.root, "catalog", "show", "sales.orders").stdout
    assert "sales.orders v2  (urn:duckmesh:sales:orders:v2)" in shown
    assert "versions: v1 deprecated, v2 active" in shown
    assert "owner:    Sales Ops Team <sales-ops@duckmesh.example>" in shown

    found = json.loads(duckmesh(built_mesh.root, "catalog", "search", "csat", "--json").stdout)
    expected = {urn for urn, node in public_models.items()
                if "csat" in json.dumps(node["columns"]).lower() + node["description"].lower()}
    assert {p["id"] for p in found} == expected and expected

    down = json.loads(duckmesh(built_mesh.root, "catalog", "lineage", "sales.orders",
                               "--downstream", "--json").stdout)
    assert {e["direction"] for e in down} == {"downstream"}
    assert {(e["from_id"], e["to_id"]) for e in down if e["depth"] == 1 and
            e["to_kind"] == "product"} == {
        (f"{PUBLIC}:sales:orders:v2", f"{PUBLIC}:{t}") for t in
        ("marketing:attribution:v1", "analytics:customer_360:v1",
         "analytics:executive_kpis:v1")}

    missing = duckmesh(built_mesh.root, "catalog", "show", "sales.nope", check=False)
    assert missing.returncode == 1
    assert "no data product 'sales.nope' in the catalog; use DOMAIN.PRODUCT" in missing.stderr


def test_drift_check_passes_on_fresh_export_and_fails_on_edits(built_mesh, tmp_path):
    folder = tmp_path / "contracts"
    duckmesh(built_mesh.root, "catalog", "export", "--out", str(folder))
    ok = duckmesh(built_mesh.root, "catalog", "check", str(folder))
    assert "20 descriptors" in ok.stdout and "match the mesh" in ok.stdout

    edited = folder / "sales" / "orders_v2.odcs.yaml"
    edited.write_text(edited.read_text().replace("Sales Ops Team", "Someone Else"))
    (folder / "customers" / "customers_v1.odps.yaml").unlink()
    failed = duckmesh(built_mesh.root, "catalog", "check", str(folder), check=False)
    assert failed.returncode == 1
    assert "changed: sales/orders_v2.odcs.yaml" in failed.stdout
    assert "missing: customers/customers_v1.odps.yaml" in failed.stdout
    assert "2 descriptor(s)" in failed.stderr and "duckmesh catalog export --out" in failed.stderr


# --- lineage fast path and cache ------------------------------------------------------

# Column lineage of the real products, written by hand from the models' SQL (not from
# the lineage code): each product column -> the source, seed and upstream-product
# columns its value is computed from (filters and join keys do not count; count(*)
# reads no column). Lineage stops at sources, seeds and other public products.
CRM = "source.customers.crm.customers"
TICKETS = "source.customer_service.ticketing.tickets"
ORDERS_SRC = "source.sales.order_system.orders"
LINES_SRC = "source.sales.order_system.order_lines"
TOUCHES = "source.marketing.ad_platform.touches"
SPEND = "source.marketing.ad_platform.campaign_spend"
PRODUCTS_SEED = "seed.sales.products"
CAMPAIGNS_SEED = "seed.marketing.campaigns"
CUSTOMERS = "model.customers.customers.v1"
ORDERS = "model.sales.orders.v2"  # ref('sales', 'orders'): the latest version
SATISFACTION = "model.customer_service.satisfaction.v1"
TICKETS_P = "model.customer_service.tickets.v1"
ATTRIBUTION = "model.marketing.attribution.v1"
# is_attributed = coalesce(last_touch.touch_id is not null and not orders.is_cancelled, false)
IS_ATTRIBUTED = {(TOUCHES, "touch_id"), (ORDERS, "is_cancelled")}
HAND_LINEAGE: dict[tuple[str, str], set[tuple[str, str]]] = {
    # customers: stg_crm__customers renames the CRM export's columns
    (CUSTOMERS, "customer_id"): {(CRM, "cust_id")},
    (CUSTOMERS, "email_hash"): {(CRM, "email")},  # pseudonymise(lower(trim(email)))
    (CUSTOMERS, "country_code"): {(CRM, "country")},
    (CUSTOMERS, "customer_segment"): {(CRM, "segment")},
    (CUSTOMERS, "is_marketing_opt_in"): {(CRM, "opt_in")},
    (CUSTOMERS, "signup_date"): {(CRM, "signup_dt")},
    (CUSTOMERS, "updated_at"): {(CRM, "last_modified")},
    # customer_service
    (TICKETS_P, "ticket_id"): {(TICKETS, "ticket_id")},
    (TICKETS_P, "order_id"): {(TICKETS, "order_id")},
    (TICKETS_P, "contact_channel"): {(TICKETS, "channel")},
    (TICKETS_P, "ticket_priority"): {(TICKETS, "priority")},
    (TICKETS_P, "is_closed"): {(TICKETS, "closed_at")},
    (TICKETS_P, "resolution_hours"): {(TICKETS, "opened_at"), (TICKETS, "closed_at")},
    (SATISFACTION, "customer_id"): {(TICKETS, "customer_id")},
    (SATISFACTION, "ticket_count"): set(),  # count(*)
    (SATISFACTION, "surveyed_ticket_count"): {(TICKETS, "csat_score")},
    (SATISFACTION, "satisfied_ticket_count"): {(TICKETS, "csat_score")},
    (SATISFACTION, "avg_csat_score"): {(TICKETS, "csat_score")},
    (SATISFACTION, "last_ticket_at"): {(TICKETS, "opened_at")},
    # sales: orders through the deduplicated staging and int_orders_totals
    (ORDERS, "order_id"): {(ORDERS_SRC, "order_id")},
    (ORDERS, "customer_id"): {(ORDERS_SRC, "customer_id")},
    (ORDERS, "sales_channel"): {(ORDERS_SRC, "channel")},
    (ORDERS, "order_date"): {(ORDERS_SRC, "ordered_at")},
    (ORDERS, "item_count"): set(),  # count(*) of the order's lines
    (ORDERS, "unit_count"): {(LINES_SRC, "quantity")},
    (ORDERS, "gross_amount"): {(LINES_SRC, "quantity"), (LINES_SRC, "unit_price")},
    (ORDERS, "discount_amount"): {(LINES_SRC, "discount")},
    (ORDERS, "net_amount"): {(LINES_SRC, "quantity"), (LINES_SRC, "unit_price"),
                             (LINES_SRC, "discount")},
    (ORDERS, "shipping_amount"): {(ORDERS_SRC, "shipping_cost")},
    (ORDERS, "is_cancelled"): {(ORDERS_SRC, "status")},
    ("model.sales.orders.v1", "order_amount"): {
        (LINES_SRC, "quantity"), (LINES_SRC, "unit_price"), (LINES_SRC, "discount"),
        (ORDERS_SRC, "shipping_cost")},
    ("model.sales.order_items.v1", "order_item_id"): {(LINES_SRC, "order_line_id")},
    ("model.sales.order_items.v1", "product_name"): {(PRODUCTS_SEED, "product_name")},
    ("model.sales.order_items.v1", "product_category"): {(PRODUCTS_SEED, "category")},
    # marketing: attribution reads the sales.orders product through int_sales__orders
    (ATTRIBUTION, "order_id"): {(ORDERS, "order_id")},
    (ATTRIBUTION, "ordered_at"): {(ORDERS, "ordered_at")},
    (ATTRIBUTION, "is_attributed"): IS_ATTRIBUTED,
    (ATTRIBUTION, "campaign_id"): IS_ATTRIBUTED | {(TOUCHES, "campaign_id")},
    (ATTRIBUTION, "touched_at"): IS_ATTRIBUTED | {(TOUCHES, "touched_at")},
    (ATTRIBUTION, "attributed_revenue_amount"): IS_ATTRIBUTED | {(ORDERS, "net_amount")},
    ("model.marketing.campaign_performance.v1", "campaign_name"): {
        (CAMPAIGNS_SEED, "campaign_name")},
    ("model.marketing.campaign_performance.v1", "marketing_channel"): {
        (CAMPAIGNS_SEED, "channel")},
    ("model.marketing.campaign_performance.v1", "spend_amount"): {(SPEND, "spend_eur")},
    ("model.marketing.campaign_performance.v1", "first_spend_date"): {(SPEND, "spend_date")},
    ("model.marketing.campaign_performance.v1", "touch_count"): set(),
    ("model.marketing.campaign_performance.v1", "reached_customer_count"): {
        (TOUCHES, "customer_id")},
    ("model.marketing.campaign_performance.v1", "reached_opted_in_customer_count"): {
        (TOUCHES, "customer_id"), (CUSTOMERS, "is_marketing_opt_in")},
    ("model.marketing.campaign_performance.v1", "attributed_revenue_amount"): {
        (ATTRIBUTION, "attributed_revenue_amount")},
    ("model.marketing.campaign_performance.v1", "return_on_ad_spend"): {
        (ATTRIBUTION, "attributed_revenue_amount"), (SPEND, "spend_eur")},
    # the root project's consumer-aligned products
    ("model.duckmesh.customer_360.v1", "customer_id"): {(CUSTOMERS, "customer_id")},
    ("model.duckmesh.customer_360.v1", "order_count"): {(ORDERS, "is_cancelled")},
    ("model.duckmesh.customer_360.v1", "lifetime_net_amount"): {
        (ORDERS, "is_cancelled"), (ORDERS, "net_amount")},
    ("model.duckmesh.customer_360.v1", "first_ordered_at"): {(ORDERS, "ordered_at")},
    ("model.duckmesh.customer_360.v1", "ticket_count"): {(SATISFACTION, "ticket_count")},
    ("model.duckmesh.customer_360.v1", "avg_csat_score"): {(SATISFACTION, "avg_csat_score")},
    ("model.duckmesh.customer_360.v1", "attributed_order_count"): {
        (ATTRIBUTION, "is_attributed")},
    ("model.duckmesh.customer_360.v1", "has_ordered"): {(ORDERS, "is_cancelled")},
    ("model.duckmesh.executive_kpis.v1", "month_date"): {(ORDERS, "order_date")},
    ("model.duckmesh.executive_kpis.v1", "active_customer_count"): {
        (ORDERS, "is_cancelled"), (ORDERS, "customer_id")},
    ("model.duckmesh.executive_kpis.v1", "new_customer_count"): set(),
    ("model.duckmesh.executive_kpis.v1", "avg_csat_score"): {(TICKETS_P, "csat_score")},
    ("model.duckmesh.executive_kpis.v1", "attributed_revenue_amount"): {
        (ATTRIBUTION, "attributed_revenue_amount")},
}


def _lowered(found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Column names compared case-blind (the CRM export's header is upper case)."""
    return {(uid, column.lower()) for uid, column in found}


def _as_tuples(direct) -> dict[str, tuple]:
    return {uid: (m.columns, m.used, m.error and m.error.split(":")[0])
            for uid, m in direct.items()}


def _hand_lineage_differences(mesh_lineage) -> list[str]:
    return [f"{uid}.{column}: got {sorted(_lowered(mesh_lineage.column_inputs(uid, column)))}, "
            f"expected {sorted(expected)}"
            for (uid, column), expected in HAND_LINEAGE.items()
            if _lowered(mesh_lineage.column_inputs(uid, column)) != expected]


def test_fast_lineage_and_its_cache_match_the_hand_written_lineage_of_the_real_mesh(
        built_mesh, manifest, tmp_path, monkeypatch):
    from duckmesh.catalog import lineage
    from duckmesh.catalog import store as cat

    with builddb.connect(built_mesh.db_path, read_only=True) as connection:
        node_columns = cat.db_columns(connection, manifest)
    public = {uid for uid, node in manifest["nodes"].items() if node.get("access") == "public"}
    assert {uid for uid, _ in HAND_LINEAGE} == public  # every product version is covered
    for columns in (node_columns, {}):  # with the built columns, and by name only
        fast = lineage.mesh_lineage(manifest, columns)
        assert len(fast.direct) > 20 and any(m.columns for m in fast.direct.values())
        assert _hand_lineage_differences(fast) == []

        cache = tmp_path / f"cache_{len(columns)}.json"
        cold = lineage.mesh_lineage(manifest, columns, cache_path=cache)
        assert cache.exists() and _hand_lineage_differences(cold) == []
        assert _as_tuples(cold.direct) == _as_tuples(fast.direct)

        def no_parsing(*args, **kwargs):
            raise AssertionError("a cache hit must not parse SQL")

        with monkeypatch.context() as patched:
            patched.setattr(lineage, "analyse_raw", no_parsing)
            warm = lineage.mesh_lineage(manifest, columns, cache_path=cache)
        assert warm.direct == cold.direct
        # the catalog's public-product view is the same both ways
        for uid, node in manifest["nodes"].items():
            if node.get("access") == "public":
                for column in node["columns"]:
                    assert warm.column_inputs(uid, column) == cold.column_inputs(uid, column)


def test_lineage_cache_reparses_only_changed_models(manifest, tmp_path, monkeypatch):
    from duckmesh.catalog import lineage

    cache = tmp_path / "lineage_cache.json"
    first = lineage.mesh_lineage(manifest, {}, cache_path=cache)
    changed = json.loads(json.dumps(manifest))
    uid = "model.customers.customers.v1"
    changed["nodes"][uid]["compiled_code"] = \
        "select 1 as extra_column, * from (" + changed["nodes"][uid]["compiled_code"] + ")"
    parsed = []
    real = lineage.analyse_raw
    monkeypatch.setattr(lineage, "analyse_raw", lambda sql, schema: parsed.append(sql)
                        or real(sql, schema))
    second = lineage.mesh_lineage(changed, {}, cache_path=cache)
    assert len(parsed) == 1 and "extra_column" in parsed[0]
    assert second.direct[uid].columns["extra_column"] == set()
    assert {u: m for u, m in second.direct.items() if u != uid} == \
        {u: m for u, m in first.direct.items() if u != uid}
    cache.write_text("{not json")  # a damaged cache is rebuilt, never an error
    assert lineage.mesh_lineage(manifest, {}, cache_path=cache).direct == first.direct
