"""Publishing: the snapshot equals the build, consumers get only what they may read,
rollback restores an older snapshot, and user input is validated."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import clone_built, duckmesh, masked, product_relations
from duckmesh.core import builddb
from duckmesh.core.products import public_products
from duckmesh.core.project import Mesh
from duckmesh.governance import gate, offline
from duckmesh.governance.gate import GovernanceFailed
from duckmesh.publish import verify

RESTRICTED = "customers.customers_v1"


def fingerprint(con: duckdb.DuckDBPyConnection, source: str) -> tuple[int, str]:
    """Rows and an md5 over the sorted rows: computed apart from publish's own checksum."""
    return con.execute(f"select count(*), md5(coalesce(string_agg(t::varchar, chr(10) "
                       f"order by t::varchar), '')) from {source} as t").fetchone()


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    return product_relations(con)


@pytest.fixture(scope="module")
def manifest(built_mesh) -> dict:
    return json.loads((built_mesh.root / "target" / "manifest.json").read_text())


@pytest.fixture()
def published_copy(built_mesh, tmp_path: Path) -> Path:
    """A copy of the built mesh (with its published/ tree) that a test may change."""
    root = tmp_path / "duckmesh"
    clone_built(built_mesh.root, root,
                ignore=shutil.ignore_patterns("logs", "data"))
    return root


def test_published_snapshot_equals_the_build(built_mesh, manifest: dict) -> None:
    products = public_products(manifest)
    published = built_mesh.root / "published"
    mesh = builddb.connect(built_mesh.db_path, read_only=True)
    pub = duckdb.connect(str(published / "mesh.duckdb"), read_only=True)
    assert relations(pub) == {p.relation for p in products}
    for product in products:
        expected = fingerprint(mesh, product.relation)
        assert expected[0] > 0
        assert fingerprint(pub, product.relation) == expected, product.relation
        port = (published / product.domain / product.name / f"v{product.version}"
                / f"{product.relation_name}.parquet")
        assert fingerprint(pub, f"read_parquet('{port}')") == fingerprint(
            mesh, masked(product.relation)), port
        if product.is_latest:
            assert fingerprint(pub, f"{product.schema}.{product.name}") == expected
    recorded = dict(pub.execute("select relation, row_count from _duckmesh.products").fetchall())
    assert recorded == {p.relation: fingerprint(mesh, p.relation)[0] for p in products}
    mesh.close()
    pub.close()
    assert (json.loads((published / "manifest.json").read_text())["metadata"]["invocation_id"]
            == manifest["metadata"]["invocation_id"])


def test_consumer_databases_hold_exactly_the_allowed_products(built_mesh, manifest: dict) -> None:
    everything = {p.relation for p in public_products(manifest)}
    consumers = built_mesh.root / "published" / "consumers"
    assert sorted(p.name for p in consumers.iterdir()) == ["bi_dashboards", "data_science"]
    pub = duckdb.connect(str(built_mesh.root / "published" / "mesh.duckdb"), read_only=True)
    science = duckdb.connect(str(consumers / "data_science" / "mesh.duckdb"), read_only=True)
    assert relations(science) == everything - {RESTRICTED}
    for relation in everything - {RESTRICTED}:
        # customer_360's columns from customers, and executive_kpis' count of customers, are
        # null for data_science (P12)
        expected = masked(relation) if relation in (
            "analytics.customer_360_v1", "analytics.executive_kpis_v1") else relation
        assert fingerprint(science, relation) == fingerprint(pub, expected), relation
    science.close()
    # bi_dashboards reads customers through its group (reporting), with email_hash masked
    bi = duckdb.connect(str(consumers / "bi_dashboards" / "mesh.duckdb"), read_only=True)
    assert relations(bi) == everything
    assert bi.execute(f"select count(*), count(email_hash) from {RESTRICTED}").fetchone() == (
        pub.execute(f"select count(*) from {RESTRICTED}").fetchone()[0], 0)
    unmasked = "select * exclude (email_hash) from customers.customers_v1"
    assert fingerprint(bi, f"({unmasked})") == fingerprint(pub, f"({unmasked})")
    assert pub.execute(f"select count(email_hash) from {RESTRICTED}").fetchone()[0] > 0
    bi.close()
    pub.close()


def test_consumer_files_read_the_ports_and_copy_only_what_a_port_masks(built_mesh) -> None:
    """A product a consumer sees exactly as its public port holds it is a view
    over the snapshot's port (no copy of its rows); bi_dashboards sees customer_360's
    customer columns and executive_kpis' count of customers, which the ports mask (P12),
    so those products are tables."""
    published = built_mesh.root / "published"
    record = json.loads((published / "current" / "publish.json").read_text())
    snapshot = record["snapshot"]
    for consumer, copied in (("data_science", set()),
                             ("bi_dashboards", {"analytics.customer_360_v1",
                                                "analytics.executive_kpis_v1"})):
        with duckdb.connect(str(published / "consumers" / consumer / "mesh.duckdb"),
                            read_only=True) as con:
            kinds = dict(con.execute(
                "select table_schema || '.' || table_name, table_type "
                "from information_schema.tables").fetchall())
            ports = dict(con.execute("select relation, path from _duckmesh.ports").fetchall())
        products = set(record["consumer_tables"][consumer])
        assert {r for r in products if kinds[r] == "BASE TABLE"} == copied, consumer
        assert set(ports) == products - copied
        for relation, path in ports.items():
            assert kinds[relation] == "VIEW"
            assert path.endswith(f"/snapshots/{snapshot}/"
                                 f"{verify.port_file(record['products'][relation])}"), path
            assert record["consumer_tables"][consumer][relation]["port"] == path


def test_the_published_database_carries_the_catalog_without_private_names(built_mesh,
                                                                          manifest: dict
                                                                          ) -> None:
    """The catalog where consumers look: published/mesh.duckdb, opened by a plain
    read-only DuckDB connection, holds mesh_catalog (products, columns, owners, versions,
    SLOs, lineage, consumers) for exactly the product versions it publishes, with their
    rows and ports as published, and names no private model; `duckmesh query` reaches it.
    Its own Parquet ports are listed at snapshot paths (_duckmesh.port_files)."""
    import re

    published = built_mesh.root / "published"
    record = json.loads((published / "current" / "publish.json").read_text())
    with duckdb.connect(str(published / "mesh.duckdb"), read_only=True) as con:
        products = con.execute(
            "select relation, row_count, parquet_location, owner_name, version, "
            "latest_version, slo_min_rows from mesh_catalog.products order by relation"
        ).fetchall()
        counts = {r: con.execute(f"select count(*) from {r}").fetchone()[0]
                  for r in product_relations(con)}
        columns = con.execute("select column_name from mesh_catalog.columns where product_id "
                              "= 'urn:duckmesh:sales:orders:v2' order by position").fetchall()
        described = [(c,) for c, *_ in con.execute("describe sales.orders_v2").fetchall()]
        readers = con.execute(
            "select distinct consumer_name, consumer_kind, consumer_domain "
            "from mesh_catalog.consumers where product_id = 'urn:duckmesh:sales:orders:v2' "
            "order by all").fetchall()
        lineage = con.execute("select count(*) from mesh_catalog.lineage").fetchone()[0]
        port_files = dict(con.execute(
            "select relation, snapshot_path from _duckmesh.port_files").fetchall())
        cells = [str(value) for table in ("domains", "products", "columns", "lineage",
                                          "column_lineage", "consumers")
                 for row in con.execute(f"select * from mesh_catalog.{table}").fetchall()
                 for value in row if value is not None]
    assert [(r, n) for r, n, *_ in products] == sorted(counts.items())
    assert {r: n for r, n, *_ in products} == {r: e["rows"] for r, e in
                                               record["products"].items()}
    for relation, _, location, *_ in products:
        domain, name = relation.split(".")
        product, version = name.rsplit("_v", 1)
        assert location == f"published/{domain}/{product}/v{version}/{name}.parquet"
        assert port_files[relation] == (f"snapshots/{record['snapshot']}/ports/{domain}/"
                                        f"{product}/v{version}/{name}.parquet")
        assert (published / port_files[relation]).is_file()
    assert ("sales.orders_v2", "Sales Ops Team", 2, 2, 10) in {
        (r, owner, v, latest, slo) for r, _, _, owner, v, latest, slo in products}
    assert columns == described
    assert lineage > 0
    # a private model that reads orders is named by its domain only
    assert readers == [("customer_360_v1", "product", "analytics"),
                       ("executive_kpis_v1", "product", "analytics"),
                       (None, "private model", "marketing")]  # nulls last
    private = {node["name"] for node in manifest["nodes"].values()
               if node["resource_type"] == "model" and node.get("access") == "private"}
    assert len(private) > 5
    words = {word for cell in cells for word in re.findall(r"[A-Za-z0-9_]+", cell)}
    assert sorted(private & words) == []
    shown = duckmesh(built_mesh.root, "query", "select relation, owner_name from "
                     "mesh_catalog.products where relation = 'sales.orders_v2'", "--json")
    assert json.loads(shown.stdout) == {"relation": "sales.orders_v2",
                                        "owner_name": "Sales Ops Team"}


def test_publish_for_a_domain_masks_by_column_rule(published_copy: Path) -> None:
    duckmesh(published_copy, "publish", "--for", "marketing", "--for", "sales")
    consumers = published_copy / "published" / "consumers"
    pub = duckdb.connect(str(published_copy / "published" / "mesh.duckdb"), read_only=True)
    marketing = duckdb.connect(str(consumers / "marketing" / "mesh.duckdb"), read_only=True)
    sales = duckdb.connect(str(consumers / "sales" / "mesh.duckdb"), read_only=True)
    assert fingerprint(marketing, RESTRICTED) == fingerprint(pub, RESTRICTED)
    assert sales.execute(f"select count(email_hash) from {RESTRICTED}").fetchone() == (0,)
    # a read-only consumer file cannot be changed through its connection
    with pytest.raises(duckdb.Error, match="read-only"):
        sales.execute(f"create or replace table {RESTRICTED} as select 1 as x")
    unmasked = dict(pub.execute(f"select customer_id, email_hash from {RESTRICTED}").fetchall())
    for con in (pub, marketing, sales):
        con.close()
    # mask: hash instead of null (set in the build's manifest, as the yml would): sales
    # gets each value's salted pseudonym, the salt read from the installation's file
    manifest_path = published_copy / "target" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    column = manifest["nodes"]["model.customers.customers.v1"]["columns"]["email_hash"]
    for meta in (column["meta"], column["config"]["meta"]):
        meta["mask"] = "hash"
    manifest_path.write_text(json.dumps(manifest))
    duckmesh(published_copy, "publish")
    secret = (published_copy / ".duckmesh" / "pii_salt").read_text().strip()
    with duckdb.connect(str(consumers / "sales" / "mesh.duckdb"), read_only=True) as sales:
        hashed = dict(sales.execute(f"select customer_id, email_hash from {RESTRICTED}"
                                    ).fetchall())
    assert hashed == {c: hashlib.sha256((secret + v.strip().lower()).encode()).hexdigest()
                      for c, v in unmasked.items()}
    record = (published_copy / "published" / "current" / "publish.json").read_text()
    assert secret not in record and "pii_salt" in record


def test_rollback_and_keep(published_copy: Path) -> None:
    published = published_copy / "published"
    first = (published / "current").readlink().name
    for _ in range(3):  # nothing changed: --force writes a new snapshot all the same
        duckmesh(published_copy, "publish", "--keep", "2", "--force")
    kept = sorted(p.name for p in (published / "snapshots").iterdir())
    assert len(kept) == 2 and first not in kept
    current = (published / "current").readlink().name
    assert current == kept[-1]
    result = duckmesh(published_copy, "publish", "--rollback")
    assert result.stdout.strip() == f"rolled back: published/current -> snapshots/{kept[0]}"
    con = duckdb.connect(str(published / "mesh.duckdb"), read_only=True)
    assert con.execute("select snapshot_id from _duckmesh.snapshot").fetchone() == (kept[0],)
    con.close()
    duckmesh(published_copy, "publish", "--rollback", kept[1])
    assert (published / "current").readlink().name == kept[1]


@pytest.mark.parametrize(("args", "message"), [
    (["publish", "--for", "../outside"], "invalid consumer name '../outside'"),
    (["publish", "--for", "nobody"], "unknown consumer(s) ['nobody']"),
    (["publish", "--rollback", "../../etc"], "unknown snapshot '../../etc'"),
    (["publish", "--keep", "0"], "--keep must be 1 or more, got 0"),
])
def test_user_input_is_validated(published_copy: Path, args: list[str], message: str) -> None:
    before = (published_copy / "published" / "current").readlink()
    result = duckmesh(published_copy, *args, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert (published_copy / "published" / "current").readlink() == before
    assert not list((published_copy / "published").glob("../outside*"))


def test_publish_refuses_artifacts_of_an_unfinished_build(published_copy: Path) -> None:
    results = published_copy / "target" / "run_results.json"
    stale = json.loads(results.read_text())
    stale["metadata"]["invocation_id"] = "an-interrupted-run"
    results.write_text(json.dumps(stale))
    before = (published_copy / "published" / "current").readlink()
    result = duckmesh(published_copy, "publish", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "duckmesh publish: error: target/run_results.json is from a `dbt build` that did "
        "not finish, which may have changed tables the build's tests never saw: run "
        "`duckmesh build` (it publishes when it ends)\n")
    assert (published_copy / "published" / "current").readlink() == before


def test_refs_to_a_product_the_domain_may_not_read_fail(built_mesh, manifest: dict) -> None:
    """P11 has one home, its macro: publish refuses through the governance gate, which
    runs the macro over the manifest it is about to publish."""
    mesh = Mesh(built_mesh.root)

    def p11(judged: dict) -> list[str]:
        return [v["message"] for v in offline.governance_check(mesh, judged)["violations"]
                if v["policy"] == "P11"]

    assert p11(manifest) == []
    changed = copy.deepcopy(manifest)
    node = changed["nodes"]["model.customers.customers.v1"]
    node["meta"] = {**node.get("meta", {}), "consumers": ["analytics"]}
    node["config"]["meta"] = node["meta"]
    problems = p11(changed)
    assert ("model int_campaign_reach (domain marketing) refs customers.customers v1, whose "
            "meta.consumers is ['analytics']: ask the customers team to add marketing to "
            "meta.consumers in domains/customers/models/products/_products.yml, or remove the ref"
            ) in problems
    readers = {p.split(" (domain ")[1].split(")")[0] for p in problems}
    assert readers == {"marketing", "sales", "customer_service"}
    with pytest.raises(GovernanceFailed, match=r"\[P11 error\] domain marketing, "
                       r"model\.marketing\.int_campaign_reach: model int_campaign_reach "):
        gate.require(mesh, changed, "the test", quiet=True)


@pytest.mark.e2e
def test_build_stops_before_any_model_builds_when_a_domain_may_not_read_a_ref(
        mesh_copy: Path) -> None:
    """Consumer access is governance policy P11: dbt's on-run-start hook stops the build
    before any model runs (no separate `dbt parse` before the build)."""
    products = mesh_copy / "domains" / "customers" / "models" / "products" / "_products.yml"
    text = products.read_text()
    allowed = "consumers: [analytics, marketing, sales, customer_service, reporting]"
    assert allowed in text
    products.write_text(text.replace(allowed, "consumers: [analytics, sales, customer_service]"))
    result = duckmesh(mesh_copy, "build", "--scale", "0.002", check=False)
    assert result.returncode == 1
    message = ("model int_campaign_reach (domain marketing) refs customers.customers v1, "
               "whose meta.consumers is ['analytics', 'sales', 'customer_service']: ask the "
               "customers team to add marketing to meta.consumers in "
               "domains/customers/models/products/_products.yml, or remove the ref")
    # printed once, by dbt; the last line says where to look instead of repeating it
    assert (result.stdout + result.stderr).count(message) == 1 and message in result.stdout
    assert result.stderr.endswith("the error is printed above and in logs/dbt.log\n")
    assert "[P11 error] domain marketing, model.marketing.int_campaign_reach: " in result.stdout
    with builddb.connect(mesh_copy / "mesh.duckdb", read_only=True) as con:
        built = con.execute("select count(*) from information_schema.tables where table_schema "
                            "in ('customers', 'sales', 'marketing', 'customer_service', "
                            "'analytics')").fetchall()[0][0]
    assert built == 0  # no model ran
    assert not (mesh_copy / "published").exists()


def test_republish_reuses_unchanged_products_and_rewrites_changed_ones(
        published_copy: Path) -> None:
    published = published_copy / "published"
    copied = (published / "current").readlink().name
    # a copied published/ is written once more, so its consumer files read its own ports
    moved = duckmesh(published_copy, "publish")
    assert moved.stdout.splitlines()[1] == ("      new snapshot: published/ was moved or "
                                            "copied: consumer files read ports elsewhere")
    first = (published / "current").readlink().name
    assert first != copied
    # then a publish that would write the same snapshot again keeps it
    kept = duckmesh(published_copy, "publish")
    assert kept.stdout == (f"unchanged: snapshot {first} kept (10 product versions as "
                           "published; --force writes a new one)\n")
    assert (published / "current").readlink().name == first
    assert sorted(p.name for p in (published / "snapshots").iterdir()) == [copied, first]
    build_id = json.loads((published_copy / "target" / "run_results.json").read_text()
                          )["metadata"]["invocation_id"]
    verified = json.loads((published / "verified.json").read_text())
    assert (verified["snapshot"], verified["invocation_id"], verified["outcome"]) == (
        first, build_id, "unchanged")
    assert duckmesh(published_copy, "publish", "--list").stdout == (
        f"  {copied}  10 product versions  consumers: bi_dashboards, data_science\n"
        f"* {first}  10 product versions  consumers: bi_dashboards, data_science  "
        f"verified {verified['verified_at']}\n")
    # change one product in the build's products file: the snapshot database is a copy of
    # that file (no table taken from the previous snapshot), only its port is written again
    con = builddb.connect(published_copy / "mesh.duckdb")
    con.execute("update products.marketing.campaign_performance_v1 "
                "set campaign_name = campaign_name || '!'")
    con.close()
    result = duckmesh(published_copy, "publish")
    second = (published / "current").readlink().name
    assert second != first
    size = (published_copy / "mesh.products.duckdb").stat().st_size / 1e6
    assert result.stdout.splitlines()[:2] == [
        f"      snapshot database: a copy of mesh.products.duckdb ({size:.1f} MB)",
        "      new snapshot: marketing.campaign_performance_v1 data changed (rows or checksum)"]
    record = json.loads((published / "current" / "publish.json").read_text())
    changed = "marketing.campaign_performance_v1"
    assert not any(e["reused"] for e in record["products"].values())
    old, new = published / "snapshots" / first, published / "snapshots" / second
    mesh = builddb.connect(published_copy / "mesh.duckdb", read_only=True)
    pub = duckdb.connect(str(published / "mesh.duckdb"), read_only=True)
    assert pub.execute("select snapshot_id from _duckmesh.snapshot").fetchone()[0] == second
    assert relations(pub) == set(record["products"])
    for relation, entry in record["products"].items():
        port = (Path(entry["domain"]) / entry["product"] / f"v{entry['version']}"
                / f"{relation.split('.', 1)[1]}.parquet")
        same_file = ((old / "ports" / port).stat().st_ino == (new / "ports" / port).stat().st_ino)
        assert same_file == (relation != changed), relation
        expected = fingerprint(mesh, relation)
        assert fingerprint(pub, relation) == expected, relation
        assert fingerprint(pub, f"read_parquet('{new / 'ports' / port}')") == fingerprint(
            mesh, masked(relation)), relation
    assert pub.execute("select count(*) from marketing.campaign_performance "
                       "where campaign_name like '%!'").fetchone()[0] > 0
    for consumer in ("bi_dashboards", "data_science"):
        con = duckdb.connect(str(published / "consumers" / consumer / "mesh.duckdb"),
                             read_only=True)
        assert con.execute("select snapshot_id from _duckmesh.snapshot").fetchone()[0] == second
        assert set(con.execute("select relation from _duckmesh.products").fetchall()) == {
            (r,) for r in relations(con)}
        assert fingerprint(con, changed) == fingerprint(pub, changed)
        if consumer == "bi_dashboards":
            assert con.execute(f"select count(email_hash) from {RESTRICTED}").fetchone() == (0,)
        else:
            assert RESTRICTED not in relations(con)
        con.close()
    mesh.close()
    pub.close()
    # access alone changes (bi_dashboards joins marketing, which sees the restricted
    # email_hash): same data, a new snapshot all the same
    project = published_copy / "dbt_project.yml"
    project.write_text(project.read_text().replace("bi_dashboards: [reporting]",
                                                   "bi_dashboards: [reporting, marketing]"))
    result = duckmesh(published_copy, "publish")
    assert result.stdout.splitlines()[1] == (
        f"      new snapshot: bi_dashboards sees other columns of {RESTRICTED}")
    assert (published / "current").readlink().name != second
    with duckdb.connect(str(published / "consumers" / "bi_dashboards" / "mesh.duckdb"),
                        read_only=True) as con:
        assert con.execute(f"select count(email_hash) from {RESTRICTED}").fetchone() == (1000,)


def test_products_a_selective_build_did_not_build_are_one_line() -> None:
    """A --changed-only build printed one 'not published' line per product it did not
    select; now one line names them, and other reasons keep a line each."""
    from duckmesh.publish.plan import NOT_BUILT, Plan
    from duckmesh.publish.publisher import log_outcome

    lines: list[str] = []
    log_outcome(Plan(carry={"sales.orders_v2": NOT_BUILT, "sales.orders_v1": NOT_BUILT,
                            "customers.customers_v1": "model error"}), lines.append)
    assert lines == [
        "      2 product versions not built by the last dbt build: their published versions "
        "stay (sales.orders_v1, sales.orders_v2)",
        "      customers.customers_v1 not published (model error): the previous version stays"]
    lines.clear()
    log_outcome(Plan(carry={"sales.orders_v2": NOT_BUILT}), lines.append)
    assert lines == ["      sales.orders_v2 not published (not built by the last dbt build): "
                     "the previous version stays"]


def test_the_snapshot_catalog_names_no_private_model_and_holds_only_published_versions(
        ) -> None:
    """catalog.store.public_rows / for_snapshot / rows_digest on rows written here."""
    from duckmesh.catalog import store

    product = {"product_id": "urn:duckmesh:sales:orders:v2", "relation": "sales.orders_v2",
               "row_count": 7, "parquet_location": None}
    dropped = {"product_id": "urn:duckmesh:sales:orders:v3", "relation": "sales.orders_v3",
               "row_count": 3, "parquet_location": None}
    reader = {"consumer_id": "model.marketing.int_sales__orders",
              "consumer_name": "int_sales__orders", "consumer_kind": "model",
              "consumer_domain": "marketing", "product_id": product["product_id"],
              "column_name": "order_id"}
    rows = {"domains": [{"domain": "sales"}], "products": [product, dropped],
            "columns": [{"product_id": p["product_id"], "column_name": "order_id"}
                        for p in (product, dropped)],
            "lineage": [{"to_id": dropped["product_id"], "from_id": "x"}],
            "column_lineage": [],
            "consumers": [reader, {**reader, "consumer_id": "model.marketing.int_other",
                                   "consumer_name": "int_other"},
                          {**reader, "consumer_id": "model.duckmesh.customer_360.v1",
                           "consumer_name": "customer_360_v1", "consumer_kind": "product",
                           "consumer_domain": "analytics"}]}
    public = store.public_rows(rows)
    assert [(c["consumer_id"], c["consumer_name"], c["consumer_kind"])
            for c in public["consumers"]] == [
        (None, None, "private model"),  # two private readers of one domain: one row
        ("model.duckmesh.customer_360.v1", "customer_360_v1", "product")]
    assert {p["row_count"] for p in public["products"]} == {None}
    published = store.for_snapshot(public, {"sales.orders_v2": (5, "published/x.parquet")})
    assert [(p["relation"], p["row_count"], p["parquet_location"])
            for p in published["products"]] == [("sales.orders_v2", 5, "published/x.parquet")]
    assert published["columns"] == [rows["columns"][0]] and published["lineage"] == []
    reordered = {**public, "consumers": list(reversed(public["consumers"]))}
    assert store.rows_digest(reordered) == store.rows_digest(public)
    assert store.rows_digest(published) != store.rows_digest(public)


def test_the_snapshot_database_is_a_copy_of_the_products_file_that_holds_only_products(
        published_copy: Path) -> None:
    """The build's products file holds nothing but product versions, and a publish copies
    it as the snapshot's database. A table there that is no longer a product version
    (a retired one: dbt never drops it) is dropped, with its address in mesh.duckdb, and
    that snapshot is written table by table; the next one is a copy again."""
    from duckmesh.publish import publisher

    db = published_copy / "mesh.duckdb"
    with builddb.connect(db) as con:
        private = {n for (n,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'products' "
            "and (table_name like 'stg%' or table_name like 'int%')").fetchall()}
        con.execute("create table products.sales.orders_v0 as select '1' as order_id")
        con.execute("create view sales.orders_v0 as select * from products.sales.orders_v0")
    assert private == set()  # private models live in mesh.duckdb only
    lines: list[str] = []
    mesh = Mesh(published_copy)
    publisher.publish(mesh, in_build=True, log=lines.append, force=True)
    assert ("      snapshot database written table by table (dropped sales.orders_v0 from "
            "mesh.products.duckdb: no longer a product version of this mesh)") in lines
    with builddb.connect(db, read_only=True) as con:
        left = con.execute("select count(*) from duckdb_tables() t full join duckdb_views() v "
                           "on false where coalesce(t.table_name, v.view_name) = 'orders_v0'"
                           ).fetchone()[0]
    assert left == 0
    lines.clear()
    publisher.publish(mesh, in_build=True, log=lines.append, force=True)
    size = builddb.products_path(db).stat().st_size / 1e6
    assert f"      snapshot database: a copy of mesh.products.duckdb ({size:.1f} MB)" in lines
    with duckdb.connect(str(published_copy / "published" / "mesh.duckdb"),
                        read_only=True) as con:
        assert "sales.orders_v0" not in product_relations(con)
        assert con.execute("select count(*) from sales.orders").fetchone()[0] > 0
