"""Quality gates before publish: a product version goes out only when
its expectations hold, and products that reference each other go out together.

The unit tests run the gates on a small database and a hand-written manifest; the e2e
tests break a source of a built mesh and build it again."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from conftest import BuiltMesh, clone_built, duckmesh, without_producer_manifest
from duckmesh.core import builddb
from duckmesh.observability.history import to_utc
from duckmesh.publish import gates
from duckmesh.publish.plan import Plan, plan

TODAY = date(2026, 11, 27)


def model(name: str, meta: dict | None = None, parents: tuple[str, ...] = (),
          key: str = "id") -> dict:
    return {"unique_id": f"model.shop.{name}.v1", "resource_type": "model",
            "access": "public", "group": "shop", "package_name": "shop", "name": name,
            "version": 1, "latest_version": 1, "schema": "shop", "alias": f"{name}_v1",
            "description": "", "config": {"meta": meta or {}},
            "constraints": [{"type": "primary_key", "columns": [key]}],
            "depends_on": {"nodes": list(parents)}}


def manifest(*nodes: dict) -> dict:
    return {"nodes": {n["unique_id"]: n for n in nodes}, "metadata": {"invocation_id": "run-1"}}


def results(failed: bool = False) -> dict:
    models = [{"unique_id": f"model.shop.{n}.v1", "status": "success"}
              for n in ("customers", "orders", "campaigns")]
    return {"results": [*models, {"unique_id": "test.shop.relationships",
                                  "status": "fail" if failed else "pass"}]}


@pytest.fixture()
def shop() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema shop")
    con.execute("create table shop.customers_v1 as select range::varchar as id, "
                "date '2024-01-01' + range::int as signup_date from range(100)")
    con.execute("create table shop.orders_v1 as select range::varchar as id, "
                "(range % 100)::varchar as customer_id, "
                "timestamptz '2024-01-01 00:00:00+00' as ordered_at from range(1000)")
    con.execute("create table shop.campaigns_v1 as select range::varchar as id from range(10)")
    return con


MESH = manifest(
    model("customers", {"slo": {"min_rows": 50}}),
    model("orders", {"quality": {"volume_band": [0.8, 1.25]}}),
    model("campaigns"),
    {"unique_id": "test.shop.relationships", "resource_type": "test", "name": "relationships",
     "attached_node": "model.shop.orders.v1",
     "depends_on": {"nodes": ["model.shop.customers.v1", "model.shop.orders.v1"]}},
)
PREVIOUS = {"shop.customers_v1": {"rows": 100}, "shop.orders_v1": {"rows": 1000},
            "shop.campaigns_v1": {"rows": 10}}


def gated(con: duckdb.DuckDBPyConnection, previous: dict | None = None,
          new_baseline: bool = False) -> Plan:
    decided = plan(MESH, results(), set(PREVIOUS))
    gates.apply(con, MESH, decided, PREVIOUS if previous is None else previous, new_baseline,
                today=TODAY)
    return decided


def test_clean_products_all_pass(shop: duckdb.DuckDBPyConnection) -> None:
    decided = gated(shop)
    assert sorted(p.relation for p in decided.build) == [
        "shop.campaigns_v1", "shop.customers_v1", "shop.orders_v1"]
    assert (decided.carry, decided.drop) == ({}, {})


def test_the_relationships_and_lineage_sets() -> None:
    lineage = manifest(model("a"), model("b", parents=("model.shop.a.v1",)), model("c"))
    assert gates.linked_sets(lineage) == [{"model.shop.a.v1", "model.shop.b.v1"},
                                          {"model.shop.c.v1"}]
    assert gates.linked_sets(MESH) == [{"model.shop.campaigns.v1"},
                                       {"model.shop.customers.v1", "model.shop.orders.v1"}]


def test_year_9999_holds_the_product_and_its_set(shop: duckdb.DuckDBPyConnection) -> None:
    """Item 4: a 9999 date is outside the default window (1900-01-01 to a year ahead); the
    orders that reference customers stay at their previous version with them."""
    shop.execute("update shop.customers_v1 set signup_date = date '9999-12-01' where id = '7'")
    decided = gated(shop)
    assert [p.relation for p in decided.build] == ["shop.campaigns_v1"]
    assert decided.carry == {
        "shop.customers_v1": "quality gate: 1 rows with signup_date outside its date_window "
                             "1900-01-01 to 2027-11-28 (found 2024-01-01 to 9999-12-01)",
        "shop.orders_v1": "held back with its set: shop.customers_v1 is held back"}


def test_truncated_data_fails_min_rows_and_the_volume_band(
        shop: duckdb.DuckDBPyConnection) -> None:
    """Item 2: 948 of 1,000 orders is inside [0.8, 1.25]; 474 is not. 40 customers are fewer
    than the min_rows 50 of meta.slo."""
    shop.execute("delete from shop.orders_v1 where id::int >= 474")
    shop.execute("delete from shop.customers_v1 where id::int >= 40")
    decided = gated(shop)
    assert decided.carry["shop.orders_v1"] == (
        "quality gate: 474 rows against 1,000 at its last publish (0.47x), outside its "
        "volume_band [0.8, 1.25]")
    assert decided.carry["shop.customers_v1"] == (
        "quality gate: 40 rows, fewer than its min_rows 50; 40 rows against 100 at its last "
        "publish (0.40x), outside its volume_band [0.5, 2]")
    # another data set (scale, seed, data folder) is a new baseline: no band, so orders
    # are only held back with the customers they reference
    renewed = plan(MESH, results(), set(PREVIOUS))
    gates.apply(shop, MESH, renewed, PREVIOUS, new_baseline=True, today=TODAY)
    assert renewed.carry["shop.orders_v1"] == (
        "held back with its set: shop.customers_v1 is held back")


def test_a_total_that_drops_sharply_fails_the_totals_band(
        shop: duckdb.DuckDBPyConnection) -> None:
    """The same rows with a sharply smaller numeric total (a source cut short
    under an aggregate) fail the totals_band against the last publish's totals; a
    previous total of 0 is not compared, and a key column has no total."""
    shop.execute("create or replace table shop.campaigns_v1 as select range::varchar as id, "
                 "(100 + range)::decimal(12, 2) as spend, 0 as clicks from range(10)")
    previous = {**PREVIOUS, "shop.campaigns_v1": {"rows": 10, "totals": {
        "spend": 1045.0 / 0.61, "clicks": 0.0}}}
    decided = gated(shop, previous)
    assert decided.carry["shop.campaigns_v1"] == (
        "quality gate: spend totals 1,045.00 against 1,713.11 at its last publish (0.61x), "
        "outside its totals_band [0.8, 1.25]")
    measured = gates.apply(shop, MESH, plan(MESH, results(), set(PREVIOUS)), PREVIOUS, False,
                           today=TODAY)
    assert measured.totals["shop.campaigns_v1"] == {"spend": 1045.0, "clicks": 0.0}
    assert measured.totals["shop.orders_v1"] == {}  # text ids and a timestamp: no totals


def test_null_or_blank_keys_fail_and_a_failed_test_holds_the_set(
        shop: duckdb.DuckDBPyConnection) -> None:
    """Item 3: orders failing their relationships test keep customers at the previous
    version too, so the snapshot never mixes new customers with old orders."""
    shop.execute("update shop.campaigns_v1 set id = ' ' where id = '3'")
    shop.execute("update shop.campaigns_v1 set id = null where id = '4'")
    decided = plan(MESH, results(failed=True), set(PREVIOUS))
    gates.apply(shop, MESH, decided, PREVIOUS, False, today=TODAY)
    assert decided.build == []
    assert decided.carry == {
        "shop.campaigns_v1": "quality gate: 2 rows with a null or blank key id",
        "shop.customers_v1": "held back with its set: shop.orders_v1 is held back",
        "shop.orders_v1": "tests failed: relationships fail"}
    # never published before: left out, with the same reason
    fresh = plan(MESH, results(failed=True), set())
    gates.apply(shop, MESH, fresh, {}, False, today=TODAY)
    assert fresh.drop["shop.customers_v1"] == "held back with its set: shop.orders_v1 is held back"


def test_meta_quality_overrides_the_window() -> None:
    node = model("x", {"quality": {"date_window": {"min": "2020-01-01", "max": "9999-12-31"},
                                   "min_rows": 0, "volume_band": None}})
    assert gates.expectations(node, TODAY) == gates.Expectations(
        min_rows=0, volume_band=None, date_min=date(2020, 1, 1), date_max=date(9999, 12, 31),
        keys=("id",))


def test_observability_takes_dates_python_cannot_hold() -> None:
    """Item 1: DuckDB hands a timestamp of year 290253 BC over as text; the run is still
    recorded (its freshness unknown) instead of `TypeError: not a time`."""
    value = duckdb.connect().execute(
        "select timestamptz '290253-01-01 (BC) 00:00:00+00'").fetchone()[0]
    assert isinstance(value, str)
    assert to_utc(value) is None


# -- end to end: a built mesh, one source broken, one build -----------------------------

def published(root: Path) -> dict:
    return json.loads((root / "published" / "current" / "publish.json").read_text())


@pytest.mark.e2e
def test_a_truncated_source_holds_back_with_an_alert_before_publish(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    """Item 2: tickets.jsonl cut short publishes nothing new; the error alert comes first.
    Cut at a line end, from a producer without a manifest (a cut in the middle
    of a line, or a manifest, stops the build before dbt): the volume band sees it."""
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    before = published(root)
    tickets = without_producer_manifest(root / "data" / "scale_0.01") / "support" / "tickets.jsonl"
    data = tickets.read_bytes()
    kept = data[: data.rfind(b"\n", 0, len(data) * 45 // 100) + 1]
    tickets.write_bytes(kept)
    complete = kept.count(b"\n")
    result = duckmesh(root, "build", "--scale", "0.01", check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    # the totals of its numeric columns fell with it (totals_band)
    gate = (f"quality gate: {complete:,} rows against 2,000 at its last publish "
            f"({complete / 2000:.2f}x), outside its volume_band [0.5, 2]; csat_score totals "
            "1,975.00 against 4,357.00 at its last publish (0.45x), outside its totals_band "
            "[0.8, 1.25]; resolution_hours totals 49,579.56 against 108,044.39 at its last "
            "publish (0.46x), outside its totals_band [0.8, 1.25]")
    assert f"customer_service.tickets_v1 not published ({gate}): the previous version stays" \
        in result.stdout
    assert ("customer_service.tickets_v1 failed the quality gates (see above): 10 product "
            "version(s) not published, consumers keep the previous versions") in result.stderr
    after = published(root)
    assert {r: (e["rows"], e["checksum"]) for r, e in after["products"].items()} == {
        r: (e["rows"], e["checksum"]) for r, e in before["products"].items()}
    # the alert: JSON in the alert file, one readable line on stdout, before the publish
    alert_file = root / "logs" / "duckmesh_alerts.jsonl"
    alert = next(json.loads(line) for line in alert_file.read_text().splitlines()
                 if "publish:customer_service.tickets_v1" in line)
    assert (alert["severity"], alert["kind"], alert["message"]) == (
        "error", "publish", f"customer_service.tickets_v1 not published: {gate}")
    readable = f"alert {alert['alert_id']} (error) customer_service.tickets_v1 not published: {gate}"
    lines = result.stdout.splitlines()
    assert lines.index(next(ln for ln in lines if ln.startswith(readable))) \
        < lines.index(next(ln for ln in lines if "published 0 product versions" in ln))
    assert not any(ln.startswith("{") for ln in lines)  # JSON goes only to the alert file
    con = builddb.connect(root / "mesh.duckdb", read_only=True)
    assert con.execute("select count(*) from mesh_observability.alerts where kind = 'publish' "
                       "and status = 'open'").fetchone()[0] == 10
    con.close()


@pytest.mark.e2e
@pytest.mark.parametrize(("manifest", "offset", "size", "seed", "message"), [
    # 300 random bytes in the middle (footer intact); the generator's
    # manifest records the file's SHA-256
    (True, 0.5, 300, 3, "sales/orders/orders_0001.parquet does not match the SHA-256 its "
                        "producer recorded (_manifest.json): damaged in transit or changed "
                        "after the export"),
    # 64 bytes at 10% published 22 order ids above 10,000; without a manifest
    # the values read differ from the footer's statistics
    (False, 0.1, 64, 27, "sales/orders/orders_0001.parquet holds values its footer's "
                         "statistics do not allow (row group 0, order_id: 1 to 65534 and 0 "
                         "nulls read, 1 to 10000 and 0 nulls in the footer): a damaged page"),
])
def test_corrupt_parquet_stops_the_build_naming_the_file(
        built_mesh: BuiltMesh, tmp_path: Path, manifest: bool, offset: float, size: int,
        seed: int, message: str) -> None:
    import random

    root = clone_built(built_mesh.root, tmp_path / "mesh")
    before = published(root)["snapshot"]
    data_dir = root / "data" / "scale_0.01"
    if not manifest:
        without_producer_manifest(data_dir)
    orders = data_dir / "sales" / "orders" / "orders_0001.parquet"
    data = orders.read_bytes()
    start = int(len(data) * offset)
    orders.write_bytes(data[:start] + random.Random(seed).randbytes(size) + data[start + size:])
    result = duckmesh(root, "build", "--scale", "0.01", check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "[3/4] dbt build" not in result.stdout
    assert f"source order_system.orders: {message}" in result.stderr
    assert published(root)["snapshot"] == before
    # the stopped run is recorded all the same (failed, no nodes)
    con = builddb.connect(root / "mesh.duckdb", read_only=True)
    runs = con.execute("select status, node_count from mesh_observability.runs "
                       "order by started_at").fetchall()
    con.close()
    assert runs[-1] == ("error", 0) and len(runs) == 2


@pytest.mark.e2e
def test_a_total_that_drops_sharply_holds_the_product_back(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    """campaign_spend.csv cut to 60% (at a line end, no manifest) kept the 40
    campaigns of campaign_performance, so the volume band could not fire, and published
    its spend at 0.61x. The totals_band compares every numeric total with the last
    publish."""
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    before = published(root)
    spend = without_producer_manifest(root / "data" / "scale_0.01") / "marketing" / \
        "campaign_spend.csv"
    data = spend.read_bytes()
    spend.write_bytes(data[: data.rfind(b"\n", 0, len(data) * 60 // 100) + 1])
    result = duckmesh(root, "build", "--scale", "0.01", check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    line = next(ln for ln in result.stdout.splitlines()
                if "marketing.campaign_performance_v1 not published (quality gate: " in ln)
    assert line == (
        "      marketing.campaign_performance_v1 not published (quality gate: return_on_ad_spend "
        "totals 179.64 against 283.10 at its last publish (0.63x), outside its totals_band "
        "[0.8, 1.25]; spend_amount totals 335,734.97 against 553,936.26 at its last publish "
        "(0.61x), outside its totals_band [0.8, 1.25]): the previous version stays")
    after = published(root)
    assert {r: (e["rows"], e["checksum"]) for r, e in after["products"].items()} == {
        r: (e["rows"], e["checksum"]) for r, e in before["products"].items()}
