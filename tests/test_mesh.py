"""The built mesh: every product exists with its columns and types, and its values
equal figures recomputed here, independently, from the generated source files."""

from __future__ import annotations

import bisect
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from conftest import BuiltMesh
from duckmesh.core import builddb

PRODUCTS = {
    "customers.customers_v1": [
        "customer_id", "email_hash", "country_code", "customer_segment", "is_marketing_opt_in",
        "signup_date", "updated_at"],
    "sales.orders_v1": [
        "order_id", "customer_id", "order_status", "sales_channel", "ordered_at", "order_date",
        "item_count", "is_cancelled", "order_amount"],
    "sales.orders_v2": [
        "order_id", "customer_id", "order_status", "sales_channel", "ordered_at", "order_date",
        "item_count", "unit_count", "gross_amount", "discount_amount", "net_amount",
        "shipping_amount", "is_cancelled", "is_returned"],
    "sales.order_items_v1": [
        "order_item_id", "order_id", "product_id", "product_name", "product_category",
        "line_number", "quantity", "unit_price_amount", "gross_amount", "discount_amount",
        "net_amount"],
    "customer_service.tickets_v1": [
        "ticket_id", "customer_id", "order_id", "contact_channel", "ticket_category",
        "ticket_priority", "opened_at", "closed_at", "is_closed", "resolution_hours",
        "csat_score"],
    "customer_service.satisfaction_v1": [
        "customer_id", "ticket_count", "surveyed_ticket_count", "satisfied_ticket_count",
        "avg_csat_score", "csat_rate", "last_ticket_at"],
    "marketing.attribution_v1": [
        "order_id", "customer_id", "ordered_at", "is_attributed", "campaign_id", "touch_id",
        "touched_at", "attributed_revenue_amount"],
    "marketing.campaign_performance_v1": [
        "campaign_id", "campaign_name", "marketing_channel", "campaign_objective",
        "first_spend_date", "last_spend_date", "spend_amount", "touch_count",
        "reached_customer_count", "reached_opted_in_customer_count", "attributed_order_count",
        "attributed_revenue_amount", "return_on_ad_spend"],
    "analytics.customer_360_v1": [
        "customer_id", "country_code", "customer_segment", "signup_date", "is_marketing_opt_in",
        "order_count", "lifetime_net_amount", "first_ordered_at", "last_ordered_at",
        "ticket_count", "avg_csat_score", "attributed_order_count", "has_ordered"],
    "analytics.executive_kpis_v1": [
        "month_date", "order_count", "net_revenue_amount", "active_customer_count",
        "new_customer_count", "ticket_count", "avg_csat_score", "attributed_revenue_amount"],
}
LATEST = {"customers.customers": "customers.customers_v1", "sales.orders": "sales.orders_v2",
          "sales.order_items": "sales.order_items_v1",
          "customer_service.tickets": "customer_service.tickets_v1",
          "customer_service.satisfaction": "customer_service.satisfaction_v1",
          "marketing.attribution": "marketing.attribution_v1",
          "marketing.campaign_performance": "marketing.campaign_performance_v1",
          "analytics.customer_360": "analytics.customer_360_v1",
          "analytics.executive_kpis": "analytics.executive_kpis_v1"}


@pytest.fixture(scope="module")
def con(built_mesh: BuiltMesh):
    connection = builddb.connect(built_mesh.db_path, read_only=True)
    connection.execute("set timezone = 'UTC'")
    yield connection
    connection.close()


def columns_of(con, relation: str) -> list[tuple[str, str]]:
    schema, table = relation.split(".")
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and "
        "table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table]).fetchall()


def scalar(con, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchall()[0][0]


@pytest.mark.parametrize("relation", sorted(PRODUCTS))
def test_every_product_version_has_its_columns(con, relation: str) -> None:
    assert [name for name, _ in columns_of(con, relation)] == PRODUCTS[relation]
    assert scalar(con, f"select count(*) from {relation}") > 0


def test_field_types_follow_the_naming_rules(con) -> None:
    expected = [("_id", "VARCHAR"), ("_at", "TIMESTAMP WITH TIME ZONE"), ("_date", "DATE"),
                ("_amount", "DECIMAL(18,2)")]
    checked = 0
    for relation in PRODUCTS:
        for name, data_type in columns_of(con, relation):
            for suffix, wanted in expected:
                if name.endswith(suffix):
                    assert data_type == wanted, f"{relation}.{name} is {data_type}"
                    checked += 1
            if name.startswith(("is_", "has_")):
                assert data_type == "BOOLEAN", f"{relation}.{name} is {data_type}"
                checked += 1
    assert checked == 58  # every such column of the ten product versions


def test_latest_aliases_are_views_on_the_latest_version(con) -> None:
    for alias, versioned in LATEST.items():
        schema, name = alias.split(".")
        kind = scalar(con, "select table_type from information_schema.tables "
                           "where table_catalog = current_database() and "
                           "table_schema = ? and table_name = ?", [schema, name])
        assert kind == "VIEW", alias
        assert columns_of(con, alias) == columns_of(con, versioned)
        assert scalar(con, f"select count(*) from (select * from {alias} "
                           f"except select * from {versioned})") == 0


def test_no_personal_data_in_any_product(con, built_mesh: BuiltMesh) -> None:
    pii = {"email", "phone", "first_name", "last_name"}
    for relation in PRODUCTS:
        assert not pii & {name for name, _ in columns_of(con, relation)}, relation
    source = f"{built_mesh.data_dir}/crm/customers.csv"
    emails = {row[0].strip().lower() for row in duckdb.connect().execute(
        f"select email from read_csv('{source}', delim=';', header=true, all_varchar=true)"
    ).fetchall()}
    hashes = {row[0] for row in con.execute(
        "select email_hash from customers.customers").fetchall()}
    assert len(hashes) == len(emails) == scalar(con, "select count(*) from customers.customers")
    assert not hashes & emails
    assert all(len(h) == 64 for h in hashes)


@pytest.fixture(scope="module")
def source(built_mesh: BuiltMesh):
    """The generated source files, read straight with DuckDB (no dbt models)."""
    data = built_mesh.data_dir
    raw = duckdb.connect()
    raw.execute("set timezone = 'UTC'")
    raw.execute(f"create view orders as select * from read_parquet('{data}/sales/orders/*.parquet')")
    raw.execute(f"create view lines as select * from read_parquet('{data}/sales/order_lines/*.parquet')")
    raw.execute(f"create view touches as select * from read_parquet('{data}/marketing/touches/*.parquet')")
    yield raw
    raw.close()


def test_revenue_equals_the_order_lines(con, source) -> None:
    net = scalar(source, "select sum(quantity * unit_price - discount) from lines")
    gross = scalar(source, "select sum(quantity * unit_price) from lines")
    shipping = scalar(source, "select sum(shipping_cost) from orders")
    assert scalar(con, "select sum(net_amount) from sales.orders") == net
    assert scalar(con, "select sum(gross_amount) from sales.orders_v2") == gross
    assert scalar(con, "select sum(net_amount) from sales.order_items") == net
    assert scalar(con, "select sum(order_amount) from sales.orders_v1") == net + shipping
    not_cancelled = scalar(source, """
        select sum(l.quantity * l.unit_price - l.discount) from lines as l
        join orders as o using (order_id) where o.status <> 'cancelled'""")
    assert scalar(con, "select sum(lifetime_net_amount) from analytics.customer_360") == not_cancelled
    assert scalar(con, "select sum(net_revenue_amount) from analytics.executive_kpis") == not_cancelled
    assert scalar(con, "select count(*) from sales.order_items") == \
        scalar(source, "select count(*) from lines")


def test_orders_per_customer(con, source) -> None:
    expected = dict(source.execute(
        "select customer_id, count(*) from orders where status <> 'cancelled' group by 1"
    ).fetchall())
    actual = dict(con.execute(
        "select customer_id, order_count from analytics.customer_360 where order_count > 0"
    ).fetchall())
    assert actual == expected
    customers = scalar(con, "select count(*) from customers.customers")
    assert scalar(con, "select count(*) from analytics.customer_360") == customers


def test_tickets_and_satisfaction(con, built_mesh: BuiltMesh) -> None:
    tickets = [json.loads(line) for line in
               (built_mesh.data_dir / "support/tickets.jsonl").read_text().splitlines()]
    assert scalar(con, "select count(*) from customer_service.tickets") == len(tickets)
    per_customer = Counter(t["customer_id"] for t in tickets)
    assert dict(con.execute("select customer_id, ticket_count from customer_service.satisfaction"
                            ).fetchall()) == dict(per_customer)
    scores = defaultdict(list)
    for ticket in tickets:
        if ticket["csat_score"] is not None:
            scores[ticket["customer_id"]].append(ticket["csat_score"])
    rows = con.execute("select customer_id, surveyed_ticket_count, satisfied_ticket_count, "
                       "avg_csat_score from customer_service.satisfaction").fetchall()
    for customer_id, surveyed, satisfied, average in rows:
        mine = scores.get(customer_id, [])
        assert surveyed == len(mine)
        assert satisfied == sum(1 for s in mine if s >= 4)
        if mine:
            # divide_rounded(): half away from zero, the same on DuckDB and Spark
            assert average == (Decimal(sum(mine)) / len(mine)).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP)
        else:
            assert average is None
    # resolution hours to 2 decimals, half up: 85,338 s is 23.705 h -> 23.71 (round() of
    # the double 23.705 would give 23.70 on DuckDB and 23.71 on Spark)
    hours, ties = {}, 0
    for t in tickets:
        if t["closed_at"] is not None:
            seconds = (datetime.fromisoformat(t["closed_at"])
                       - datetime.fromisoformat(t["opened_at"])).total_seconds()
            hours[t["ticket_id"]] = float((Decimal(int(seconds)) / 3600).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP))
            ties += int(seconds) % 36 == 18  # exactly half a hundredth of an hour
    built = dict(con.execute("select ticket_id, resolution_hours from customer_service.tickets "
                             "where closed_at is not null").fetchall())
    assert built == hours
    assert ties > 0  # the data exercises the half-up rule
    open_tickets = sum(1 for t in tickets if t["closed_at"] is None)
    assert scalar(con, "select count(*) from customer_service.tickets where not is_closed") == open_tickets


def test_last_touch_attribution_recomputed_in_python(con, source) -> None:
    touches = defaultdict(list)
    for customer_id, touched_at, campaign_id in source.execute(
            "select customer_id, touched_at, campaign_id from touches order by touched_at"
    ).fetchall():
        touches[customer_id].append((touched_at, str(campaign_id)))
    orders = source.execute("select order_id, customer_id, ordered_at, status from orders").fetchall()
    expected = {}
    for order_id, customer_id, ordered_at, status in orders:
        history = touches.get(customer_id, [])
        position = bisect.bisect_right([t for t, _ in history], ordered_at)
        campaign = None
        if position and status != "cancelled":
            touched_at, candidate = history[position - 1]
            if touched_at >= ordered_at - timedelta(days=30):
                campaign = candidate
        expected[str(order_id)] = campaign
    actual = dict(con.execute("select order_id, campaign_id from marketing.attribution").fetchall())
    assert actual == expected
    attributed = sum(1 for c in expected.values() if c is not None)
    assert 0 < attributed < len(expected)
    assert scalar(con, "select sum(attributed_order_count) from marketing.campaign_performance") == attributed


def test_build_prints_the_product_summary(built_mesh: BuiltMesh, con) -> None:
    out = built_mesh.build_output.split("[4/4] data products", 1)[1]
    for relation in PRODUCTS:
        domain, table = relation.split(".")
        product, version = table.rsplit("_v", 1)
        rows = scalar(con, f"select count(*) from {relation}")
        line = next(text for text in out.splitlines() if f" {relation} " in f" {text} ")
        assert line.split()[:4] == [domain, product, f"v{version}", f"{rows:,}"], line
    assert "deprecated 2027-06-30" in next(text for text in out.splitlines()
                                           if "sales.orders_v1" in text)
