"""The catalog: descriptors (ODCS v3 valid), mesh_catalog tables, lineage, CLI, drift check.

Expectations are computed independently: from the domains' yml files, dbt's manifest
and the built database, never from the catalog's own code paths.
"""

from __future__ import annotations

import json
from importlib import resources

import duckdb
import jsonschema
import pytest
import yaml

from conftest import duckmesh
from duckmesh.lineage import analyse_model

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
    connection = duckdb.connect(str(built_mesh.db_path), read_only=True)
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
        assert table["physicalName"] == f"{node['schema']}.{node['alias']}"
        assert [(p["name"], p["physicalType"]) for p in table["properties"]] == [
            (c["name"], c["data_type"]) for c in node["columns"].values()]
        product = yaml.safe_load(stem.with_suffix(".odps.yaml").read_text())
        assert product["id"] == urn and product["kind"] == "DataProduct"
        assert product["outputPorts"][0]["relation"] == f"{node['schema']}.{node['alias']}"
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
            con, f"select column_name from information_schema.columns where table_schema = "
                 f"'{node['schema']}' and table_name = '{node['alias']}' order by ordinal_position")
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

def _reference_direct(manifest: dict, node_columns: dict) -> dict[str, tuple]:
    """Direct column lineage per model as the catalog computed it before the lineage
    cache (one qualify per model, scopes checked for stars, relations mapped at each
    leaf): an independent copy, to hold the fast path to the same answers."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import Scope, build_scope

    from duckmesh.lineage import _contracted, _key_for, _nested_schema, compile_placeholders

    def table_key(table):
        return ".".join(p.lower() for p in (table.catalog, table.db, table.name) if p)

    def analyse(sql, schema, relations):
        memo: dict = {}

        def leaf(table, column):
            key = table_key(table)
            uid = relations.get(key) or relations.get(key.split(".", 1)[-1])
            return {(uid, column)} if uid else set()

        def column_of(scope, column):
            source = scope.sources.get(column.table) if column.table else None
            if source is None and len(scope.selected_sources) == 1:
                source = next(iter(scope.selected_sources.values()))[1]
            if isinstance(source, exp.Table):
                return leaf(source, column.name)
            return output(source, column.name) if isinstance(source, Scope) else set()

        def expression(scope, node):
            found = set()
            for column in node.find_all(exp.Column):
                found |= column_of(scope, column)
            return found

        def output(scope, name):
            key = (id(scope), name.lower())
            if key in memo:
                return memo[key]
            memo[key] = set()
            found = set()
            if isinstance(scope.expression, exp.SetOperation):
                first = scope.set_operation_scopes[0] if scope.set_operation_scopes else None
                names = [n.lower() for n in first.expression.named_selects] if first else []
                pos = names.index(name.lower()) if name.lower() in names else None
                for branch in scope.set_operation_scopes:
                    branch_names = branch.expression.named_selects
                    if pos is not None and pos < len(branch_names):
                        found |= output(branch, branch_names[pos])
            elif isinstance(scope.expression, exp.Select):
                select = scope.expression
                match = [p for p in select.expressions if p.alias_or_name.lower() ==
                         name.lower() and not isinstance(p, exp.Star)]
                if match:
                    found = expression(scope, match[0])
                elif any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and p.is_star)
                         for p in select.expressions):
                    for _, source in scope.selected_sources.values():
                        found = (leaf(source, name) if isinstance(source, exp.Table)
                                 else output(source, name))
                        if found or isinstance(source, exp.Table):
                            break
            memo[key] = found
            return found

        root, error = None, None
        for attempt, prune in ((schema, True), ({}, False)):
            try:
                tree = qualify(sqlglot.parse_one(sql, dialect="duckdb"), dialect="duckdb",
                               schema=attempt, validate_qualify_columns=False,
                               identify=False, quote_identifiers=False)
                if prune and not any(
                        isinstance(s.expression, exp.Select) and
                        any(isinstance(p, exp.Star) for p in s.expression.expressions)
                        for s in build_scope(tree).traverse()):
                    tree = pushdown_projections(tree)
                root = build_scope(tree)
                break
            except Exception as caught:  # noqa: BLE001 - the reference records any failure
                error = f"{type(caught).__name__}"
        if root is None:
            return ({}, set(), error)
        outputs = (root.set_operation_scopes[0].expression.named_selects
                   if root.set_operation_scopes else root.expression.named_selects)
        columns = {n.lower(): output(root, n) for n in outputs if n != "*"}
        used = set()
        for scope in root.traverse():
            for column in scope.columns:
                used |= column_of(scope, column)
        return (columns, used, None)

    nodes = {u: n for u, n in manifest["nodes"].items() if n["resource_type"] in ("model", "seed")}
    nodes.update(manifest.get("sources", {}))
    relations, placeholders = compile_placeholders(nodes)
    by_key = {}
    for uid, node in nodes.items():
        declared = list(node.get("columns") or []) if _contracted(node) else []
        if node_columns.get(uid) or declared:
            by_key[_key_for(node, placeholders)] = node_columns.get(uid) or declared
    direct = {}
    for uid, node in nodes.items():
        if node["resource_type"] != "model" or not node.get("compiled_code"):
            continue
        upstream = [nodes[u] for u in node["depends_on"]["nodes"] if u in nodes]
        keys = [_key_for(n, placeholders) for n in upstream]
        schema = _nested_schema({k: by_key[k] for k in keys if k in by_key})
        sql = node["compiled_code"]
        for n in upstream:
            if (n.get("relation_name") or "") in placeholders:
                sql = sql.replace(n["relation_name"], placeholders[n["relation_name"]])
        direct[uid] = analyse(sql, schema, relations)
    return direct


def _as_tuples(direct) -> dict[str, tuple]:
    return {uid: (m.columns, m.used, m.error and m.error.split(":")[0])
            for uid, m in direct.items()}


def test_fast_lineage_and_its_cache_match_the_reference_on_the_real_mesh(
        built_mesh, manifest, tmp_path, monkeypatch):
    from duckmesh import catalog as cat
    from duckmesh import lineage

    with duckdb.connect(str(built_mesh.db_path), read_only=True) as connection:
        node_columns = cat.db_columns(connection, manifest)
    for columns in (node_columns, {}):  # with the built columns, and by name only
        expected = _reference_direct(manifest, columns)
        assert len(expected) > 20 and any(c for c, _, _ in expected.values())
        assert _as_tuples(lineage.mesh_lineage(manifest, columns).direct) == expected

        cache = tmp_path / f"cache_{len(columns)}.json"
        cold = lineage.mesh_lineage(manifest, columns, cache_path=cache)
        assert cache.exists() and _as_tuples(cold.direct) == expected

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
    from duckmesh import lineage

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
