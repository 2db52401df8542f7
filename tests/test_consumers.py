"""The consumer impact check before publish, `duckmesh consumer`.

The checks over manifests work on copies of the session build's published manifest
(no dbt); one e2e test runs `duckmesh ci --domain sales` on a clone, where the change is
refused and nothing published, then the mesh build with the consumers pinned.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from conftest import REPO, BuiltMesh, clone_built, duckmesh
from duckmesh.consumers import impact, registry
from duckmesh.consumers.reads import Read, products
from duckmesh.core import builddb
from duckmesh.core.project import MeshError, find_mesh

OUTSIDE = REPO / "tests" / "fixtures" / "consumers" / "outside_bi" / "manifest.json"
MARKETING = ("consumer marketing (Growth Marketing Team <growth-marketing@duckmesh.example>) "
             "reads column net_amount of sales.orders through latest; this change makes v3 "
             "latest, which has no column net_amount. Fix: marketing pins the version it "
             "reads, {{ ref('sales', 'orders', v=2) }}, or sales keeps latest_version: 2 "
             "until marketing moves to v3")
ANALYTICS = ("consumer analytics (Central Analytics Team <analytics@duckmesh.example>) "
             "reads column net_amount of sales.orders through latest; this change makes v3 "
             "latest, which has no column net_amount. Fix: analytics pins the version it "
             "reads, {{ ref('sales', 'orders', v=2) }}, or sales keeps latest_version: 2 "
             "until analytics moves to v3")
OUTSIDE_ERROR = ("outside consumer outside_bi (BI Team <bi@outside.example>) reads column "
                 "net_amount of sales.orders through latest; this change makes v3 latest, "
                 "which has no column net_amount. Fix: outside_bi pins the version it reads, "
                 "{{ ref('sales', 'orders', v=2) }}, or sales keeps latest_version: 2 until "
                 "outside_bi moves to v3")
DEPRECATED = ("outside consumer outside_bi (BI Team <bi@outside.example>) reads sales.orders "
              "v1, deprecated from 2027-06-30 (columns order_amount, order_id). Fix: "
              "outside_bi moves to {{ ref('sales', 'orders', v=2) }}")


@pytest.fixture(scope="module")
def published(built_mesh: BuiltMesh) -> dict:
    return json.loads((built_mesh.root / "published" / "manifest.json").read_text())


def with_v3(manifest: dict, *, drop: str | None = "net_amount",
            retype: tuple[str, str] | None = None) -> dict:
    """``manifest`` with sales.orders v3 (v2 without ``drop``, or with a column retyped)
    as the new latest, as the sales build would write it."""
    after = copy.deepcopy(manifest)
    v3 = copy.deepcopy(after["nodes"]["model.sales.orders.v2"])
    v3.update(version=3, unique_id="model.sales.orders.v3", alias="orders_v3",
              relation_name='"mesh"."sales"."orders_v3"')
    if drop:
        del v3["columns"][drop]
    if retype:
        v3["columns"][retype[0]]["data_type"] = retype[1]
    after["nodes"]["model.sales.orders.v3"] = v3
    for node in after["nodes"].values():
        if node.get("package_name") == "sales" and node["name"] == "orders":
            node["latest_version"] = 3
    return after


def pin(manifest: dict, consumers: set[str], version: int) -> dict:
    """The consumers' nodes with ref('sales', 'orders', v=<version>)."""
    for unique_id in consumers:
        for ref in manifest["nodes"][unique_id]["refs"]:
            if ref["name"] == "orders" and ref["package"] == "sales":
                ref["version"] = version
    return manifest


CONSUMERS_OF_ORDERS = {"model.marketing.int_sales__orders", "model.duckmesh.customer_360.v1",
                       "model.duckmesh.executive_kpis.v1"}


def test_a_version_that_drops_a_column_read_through_latest_is_refused(published: dict) -> None:
    findings = impact.check(published, with_v3(published), [])
    assert [(f.severity, f.message) for f in findings] == [
        ("error", ANALYTICS), ("error", MARKETING)]
    retyped = impact.check(published, with_v3(published, drop=None,
                                              retype=("net_amount", "varchar")), [])
    assert [f.read.consumer for f in retyped] == ["analytics", "marketing"]
    assert ("this change makes v3 latest, which retypes (decimal(18,2) -> varchar) column "
            "net_amount") in retyped[1].message
    # a column nobody reads may go; the published state has no finding
    assert impact.check(published, with_v3(published, drop="shipping_amount"), []) == []
    assert impact.check(published, published, []) == []


def test_pinning_the_older_version_lets_it_through(published: dict) -> None:
    after = pin(with_v3(published), CONSUMERS_OF_ORDERS, 2)
    assert impact.check(published, after, []) == []
    # only marketing pinned: analytics still breaks
    partly = pin(with_v3(published), {"model.marketing.int_sales__orders"}, 2)
    assert [f.message for f in impact.check(published, partly, [])] == [ANALYTICS]
    # a pinned version removed outright is named too
    gone = pin(copy.deepcopy(published), {"model.marketing.int_sales__orders"}, 1)
    del gone["nodes"]["model.sales.orders.v1"]
    messages = [f.message for f in impact.check(published, gone, [])]
    assert messages == [
        "consumer marketing (Growth Marketing Team <growth-marketing@duckmesh.example>) reads "
        "sales.orders v1 (pinned), which this change removes. Fix: marketing moves to "
        "{{ ref('sales', 'orders', v=2) }}, or sales keeps v1 until marketing has moved"]


def test_an_outside_consumer_is_registered_listed_and_protected(
        built_mesh: BuiltMesh, published: dict, tmp_path: Path) -> None:
    work = clone_built(built_mesh.root, tmp_path / "mesh")
    done = duckmesh(work, "consumer", "register", str(OUTSIDE))
    assert done.stdout.splitlines() == [
        "registered outside_bi (BI Team <bi@outside.example>) -> consumers/outside_bi.yml:",
        "  sales.orders latest (v2): is_cancelled, net_amount, order_date",
        "  sales.orders v1 (pinned): order_amount, order_id"]
    listed = duckmesh(work, "consumer", "list", "sales.orders").stdout
    assert listed.splitlines() == [
        "sales.orders: 4 consumer(s)",
        "consumer    kind     owner                                                      "
        "version      columns",
        "----------  -------  ---------------------------------------------------------  "
        "-----------  -------------------------------------------------------------",
        "analytics   domain   Central Analytics Team <analytics@duckmesh.example>        "
        "latest (v2)  customer_id, is_cancelled, net_amount, order_date, ordered_at",
        "marketing   domain   Growth Marketing Team <growth-marketing@duckmesh.example>  "
        "latest (v2)  customer_id, is_cancelled, net_amount, order_id, ordered_at",
        "outside_bi  outside  BI Team <bi@outside.example>                               "
        "latest (v2)  is_cancelled, net_amount, order_date",
        "outside_bi  outside  BI Team <bi@outside.example>                               "
        "v1 (pinned)  order_amount, order_id",
        f"[warn] {DEPRECATED}"]

    outside = registry.load(find_mesh(work))
    after = pin(with_v3(published), CONSUMERS_OF_ORDERS, 2)  # the mesh's own consumers moved
    findings = impact.check(published, after, outside)
    assert [(f.severity, f.message) for f in findings] == [
        ("error", OUTSIDE_ERROR),
        ("warn", DEPRECATED.replace("v=2", "v=3"))]
    with pytest.raises(MeshError) as refused:
        impact.stop_on_errors(findings, 0.0, log=False)
    assert str(refused.value) == (
        f"consumer impact: 1 read(s) would break; nothing published:\n  - {OUTSIDE_ERROR}")

    # the catalog shows every consumer, outside ones with their owner
    duckmesh(work, "catalog", "refresh")
    with builddb.connect(work / "mesh.duckdb", read_only=True) as con:
        rows = con.execute(
            "select consumer_name, consumer_kind, consumer_owner, reads, "
            "string_agg(column_name, ', ' order by column_name) from mesh_catalog.consumers "
            "where product_id like 'urn:duckmesh:sales:orders:%' and consumer_kind in "
            "('outside', 'model') group by all order by all").fetchall()
    assert rows == [
        ("int_sales__orders", "model",
         "Growth Marketing Team <growth-marketing@duckmesh.example>", "latest",
         "customer_id, is_cancelled, net_amount, order_id, ordered_at"),
        ("outside_bi", "outside", "BI Team <bi@outside.example>", "latest",
         "is_cancelled, net_amount, order_date"),
        ("outside_bi", "outside", "BI Team <bi@outside.example>", "pinned",
         "order_amount, order_id")]
    shown = duckmesh(work, "catalog", "show", "sales.orders").stdout
    assert "outside consumers (1): registered projects (duckmesh consumer list sales.orders)" \
        in shown
    duckmesh(work, "catalog", "site", "--out", str(tmp_path / "site"))
    page = (tmp_path / "site" / "products" / "sales.orders.html").read_text()
    assert ("<li>outside_bi <span class=\"muted\">(outside, BI Team &lt;bi@outside.example&gt;, "
            "through latest) reads is_cancelled, net_amount, order_date</span></li>") in page
    assert ("<li>marketing.int_sales__orders <span class=\"muted\">(model, Growth Marketing "
            "Team &lt;growth-marketing@duckmesh.example&gt;, through latest) reads") in page


def test_register_refuses_a_non_manifest_and_a_read_the_mesh_lacks(built_mesh: BuiltMesh,
                                                         tmp_path: Path) -> None:
    work = clone_built(built_mesh.root, tmp_path / "mesh",
                       ignore=lambda folder, names: {"data", "mesh.duckdb"} & set(names))
    run_results = tmp_path / "run_results.json"
    run_results.write_text(json.dumps({"metadata": {"dbt_schema_version":
                           "https://schemas.getdbt.com/dbt/run-results/v6.json"}}))
    done = duckmesh(work, "consumer", "register", str(run_results), check=False)
    assert done.returncode == 1
    assert done.stderr == (
        f"duckmesh consumer: error: {run_results} is not a dbt manifest: no "
        "metadata.dbt_schema_version naming a manifest schema and no nodes (pass the "
        "manifest.json that `dbt compile` writes in the project's target/)\n")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    done = duckmesh(work, "consumer", "register", str(text), check=False)
    assert done.stderr.splitlines() == [
        f"duckmesh consumer: error: {text} is not a dbt manifest: it is not JSON (pass the "
        "manifest.json that `dbt compile` writes in the project's target/)"]
    assert not (work / "consumers").exists()
    # a project that reads a column the published mesh lacks is refused, nothing recorded
    manifest = json.loads(OUTSIDE.read_text())
    daily = manifest["nodes"]["model.outside_bi.daily_revenue"]
    daily["compiled_code"] = daily["compiled_code"].replace("sum(net_amount)",
                                                            "sum(coupon_value)")
    behind = tmp_path / "manifest.json"
    behind.write_text(json.dumps(manifest))
    done = duckmesh(work, "consumer", "register", str(behind), check=False)
    assert (done.returncode, done.stderr.splitlines()) == (1, [
        f"duckmesh consumer: error: {behind}: not registered, 1 read(s) the published mesh "
        "does not serve:",
        "  - outside consumer outside_bi (BI Team <bi@outside.example>) reads column "
        "coupon_value of sales.orders latest (v2), which the published mesh no longer has. "
        "Fix: outside_bi stops reading coupon_value, then registers again (duckmesh consumer "
        "register)"])
    assert not (work / "consumers").exists()


V3_SQL = """with

orders as (

    select * from {{ ref('int_orders_totals') }}

)

select
    order_id,
    customer_id,
    order_status,
    sales_channel,
    ordered_at,
    {{ duckmesh_platform.utc_date('ordered_at') }} as order_date,
    item_count,
    unit_count,
    gross_amount,
    discount_amount,
    shipping_amount,
    is_cancelled,
    is_returned

from orders
"""


@pytest.mark.e2e
def test_ci_refuses_a_sales_version_marketing_reads_then_pins_let_it_through(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    work = clone_built(built_mesh.root, tmp_path / "mesh")
    products = work / "domains" / "sales" / "models" / "products"
    (products / "orders_v3.sql").write_text(V3_SQL)
    yml = products / "_products.yml"
    yml.write_text(yml.read_text().replace("    latest_version: 2\n", "    latest_version: 3\n", 1)
                   .replace("    versions:\n      - v: 2\n",
                            "    versions:\n      - v: 3\n        columns:\n"
                            "          - include: all\n            exclude: [net_amount]\n"
                            "      - v: 2\n", 1))
    duckmesh(work, "consumer", "register", str(OUTSIDE))
    snapshot = os.readlink(work / "published" / "current")
    refused = duckmesh(work, "ci", "--domain", "sales", check=False)
    assert refused.returncode == 1
    assert "      sales.orders: major - v3 added" in refused.stdout
    assert f"      [warn] {DEPRECATED.replace('v=2', 'v=3')}" in refused.stdout
    assert refused.stderr == (
        "duckmesh ci: error: consumer impact: 3 read(s) would break; nothing published:\n"
        f"  - {ANALYTICS}\n  - {MARKETING}\n  - {OUTSIDE_ERROR}\n")
    assert os.readlink(work / "published" / "current") == snapshot

    # the outside project pins v2 and registers again
    pinned = json.loads(OUTSIDE.read_text())
    revenue = pinned["nodes"]["model.outside_bi.daily_revenue"]
    revenue["refs"][0]["version"] = 2
    revenue["compiled_code"] = revenue["compiled_code"].replace('"orders"', '"orders_v2"')
    (tmp_path / "manifest.json").write_text(json.dumps(pinned))
    duckmesh(work, "consumer", "register", str(tmp_path / "manifest.json"))

    # the consumers pin v2; the mesh build (they are rebuilt with it) publishes v3
    for path in (work / "domains/marketing/models/intermediate/int_sales__orders.sql",
                 work / "models/products/customer_360_v1.sql",
                 work / "models/products/executive_kpis_v1.sql"):
        path.write_text(path.read_text().replace("ref('sales', 'orders')",
                                                 "ref('sales', 'orders', v=2)"))
    built = duckmesh(work, "build")
    assert "consumer impact: no consumer's read breaks" in built.stdout
    assert os.readlink(work / "published" / "current") != snapshot
    manifest = json.loads((work / "published" / "manifest.json").read_text())
    assert manifest["nodes"]["model.sales.orders.v3"]["latest_version"] == 3
    listed = duckmesh(work, "consumer", "list", "sales.orders").stdout.splitlines()
    assert [line.split()[0] + " " + line.split(">")[1].split()[0]
            for line in listed[3:7]] == [
        "analytics v2", "marketing v2", "outside_bi v1", "outside_bi v2"]
    assert listed[7:] == [f"[warn] {DEPRECATED.replace('v=2', 'v=3')}"]


def test_a_read_the_publish_already_lacks_is_told_not_fatal(published: dict) -> None:
    """An outside record behind the mesh (a column gone before it registered, or a
    version removed since) is told at every check, and does not stop the publish."""
    index = products(published)
    stale = Read("outside_bi", "BI Team <bi@outside.example>", "outside", "sales", "orders",
                 None, 2, ("coupon_code", "net_amount"), ("model.outside_bi.daily_revenue",))
    gone = Read("outside_bi", "BI Team <bi@outside.example>", "outside", "sales", "orders",
                7, 7, ("order_id",), ("model.outside_bi.legacy_orders",))
    findings = impact.check(published, published, [stale, gone])
    assert [(f.severity, f.message) for f in findings] == [
        ("warn", "outside consumer outside_bi (BI Team <bi@outside.example>) reads column "
                 "coupon_code of sales.orders latest (v2), which the published mesh no longer "
                 "has. Fix: outside_bi stops reading coupon_code, then registers again "
                 "(duckmesh consumer register)"),
        ("warn", "outside consumer outside_bi (BI Team <bi@outside.example>) reads "
                 "sales.orders v7 (pinned), which the published mesh no longer has. Fix: "
                 "outside_bi reads {{ ref('sales', 'orders', v=2) }}, then registers again "
                 "(duckmesh consumer register)")]
    assert impact.check_read(stale, index, index) == findings[:1]


def test_an_outside_consumer_is_held_to_p11(published: dict) -> None:
    """A registered outside project reads a product whose meta.consumers does not name
    it: P11's message, as for a domain; a consumer group that names it lets it read."""
    index = products(published)
    outside = Read("outside_bi", "BI Team <bi@outside.example>", "outside", "customers",
                   "customers", None, 1, ("customer_id",), ("model.outside_bi.crm",))
    findings = impact.outside_access(published, index, [outside], {})
    assert [f.line() for f in findings] == [
        "[error] [P11] outside consumer outside_bi (BI Team <bi@outside.example>) reads "
        "customers.customers v1, whose meta.consumers is ['analytics', 'marketing', 'sales', "
        "'customer_service', 'reporting']: ask the "
        "customers team to add outside_bi to meta.consumers in "
        "domains/customers/models/products/_products.yml, or remove the ref"]
    assert impact.outside_access(published, index, [outside],
                                 {"outside_bi": ("marketing",)}) == []
    # an open product (no meta.consumers) is read by anyone
    open_read = Read("outside_bi", "BI Team <bi@outside.example>", "outside", "sales",
                     "orders", None, 2, ("order_id",), ("model.outside_bi.orders",))
    assert impact.outside_access(published, index, [open_read], {}) == []
