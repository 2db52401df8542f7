"""The catalog says what was built: the Parquet port, no machine paths, the ODPS v1.0.0
schema, slo a JSON object, lineage order and names, on the session's built mesh."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import jsonschema
import pytest
import yaml

from conftest import BuiltMesh, clone_built, duckmesh
from duckmesh.catalog.odps import ODPS_SCHEMA, validate_odps
from duckmesh.core import builddb

pytestmark = pytest.mark.integration


def test_catalog_names_the_published_parquet_port(built_mesh: BuiltMesh) -> None:
    """Item 1: right after the first build (publish runs before the catalog)."""
    root = built_mesh.root
    with builddb.connect(built_mesh.db_path, read_only=True) as con:
        stored = con.execute("select relation, parquet_location from mesh_catalog.products "
                             "order by relation").fetchall()
    assert stored == [(relation, f"published/{domain}/{name}/v{v}/{name}_v{v}.parquet")
                      for relation, domain, name, v in (
                          (r, *_parts(r)) for r, _ in stored)]
    assert len(stored) == 10
    contract = yaml.safe_load((root / "target" / "catalog" / "contracts" / "sales"
                               / "orders_v2.odcs.yaml").read_text())
    assert contract["servers"][1] == {
        "id": "parquet", "server": "parquet", "type": "local",
        "path": "published/sales/orders/v2/orders_v2.parquet", "format": "parquet"}
    shown = json.loads(duckmesh(root, "catalog", "show", "sales.orders", "--json").stdout)
    assert (shown["version"], shown["parquet_location"]) == (
        2, "published/sales/orders/v2/orders_v2.parquet")
    port = root / shown["parquet_location"]
    assert port.is_file()
    with duckdb.connect() as con:
        rows = con.execute(f"select count(*) from read_parquet('{port}')").fetchone()[0]
    published = duckdb.connect(str(root / "published" / "mesh.duckdb"), read_only=True)
    try:
        assert rows == published.execute("select count(*) from sales.orders_v2").fetchone()[0]
    finally:
        published.close()


def test_catalog_check_passes_on_another_machine(built_mesh: BuiltMesh, tmp_path: Path) -> None:
    """Item 3: descriptors exported from one checkout match those of another checkout at
    another path (another machine), so `catalog check` can gate CI."""
    committed = tmp_path / "contracts"
    duckmesh(built_mesh.root, "catalog", "export", "--out", str(committed))
    elsewhere = clone_built(built_mesh.root, tmp_path / "another" / "checkout")
    checked = duckmesh(elsewhere, "catalog", "check", str(committed))
    assert checked.stdout.strip() == f"20 descriptors in {committed} match the mesh"


def _parts(relation: str) -> tuple[str, str, int]:
    """'sales.orders_v2' -> ('sales', 'orders', 2): the domain is the schema here."""
    schema, table = relation.split(".")
    name, version = table.rsplit("_v", 1)
    return schema, name, int(version)


def test_catalog_slo_is_a_json_object(built_mesh: BuiltMesh) -> None:
    """slo->>'freshness_hours' reads the SLO, not NULL."""
    con = builddb.connect(built_mesh.db_path, read_only=True)
    try:
        rows = con.execute(
            "select relation, json_type(slo), slo->>'freshness_hours', slo_freshness_hours "
            "from mesh_catalog.products where relation = 'sales.orders_v2'").fetchall()
    finally:
        con.close()
    assert rows == [("sales.orders_v2", "OBJECT", "24", 24.0)]


def test_descriptors_carry_no_machine_paths(built_mesh: BuiltMesh) -> None:
    """Input ports name the source's files under $DUCKMESH_DATA and
    seeds by schema.table, so the descriptors are the same on every machine and scale."""
    shown = json.loads(duckmesh(built_mesh.root, "catalog", "show", "sales.orders",
                                "--json").stdout)
    assert sorted(port["location"] for port in shown["inputs"]) == [
        "$DUCKMESH_DATA/sales/order_lines/*.parquet", "$DUCKMESH_DATA/sales/orders/*.parquet",
        "sales.products"]
    contracts = built_mesh.root / "target" / "catalog" / "contracts"
    descriptors = [p for p in contracts.rglob("*") if p.is_file()]
    assert descriptors
    for path in descriptors:
        text = path.read_text()
        assert str(built_mesh.root) not in text and "/data/scale_" not in text, path


def test_every_odps_descriptor_is_valid_against_the_official_schema(
        built_mesh: BuiltMesh) -> None:
    """Item 4: the ODPS v1.0.0 JSON schema as published by the standard (its copy
    beside the catalog code, Apache-2.0), applied here with jsonschema directly."""
    schema = json.loads(ODPS_SCHEMA.read_text())
    assert schema["title"] == "Open Data Product Standard (ODPS)"
    validator = jsonschema.validators.validator_for(schema)(schema)
    descriptors = sorted((built_mesh.root / "target" / "catalog" / "contracts")
                         .rglob("*.odps.yaml"))
    assert len(descriptors) == 10
    for path in descriptors:
        product = yaml.safe_load(path.read_text())
        assert [e.message for e in validator.iter_errors(product)] == [], path
    orders = yaml.safe_load((built_mesh.root / "target" / "catalog" / "contracts" / "marketing"
                             / "attribution_v1.odps.yaml").read_text())
    assert [(p["name"], p["version"], p["contractId"]) for p in orders["inputPorts"]] == [
        ("orders", "v2", "urn:duckmesh:sales:orders:v2"),
        ("ad_platform.touches", "unversioned",
         "urn:duckmesh:marketing:source:ad_platform.touches")]
    assert orders["outputPorts"][0]["inputContracts"] == [
        {"id": "urn:duckmesh:sales:orders:v2", "version": "v2"}]
    # a key ODPS does not have is refused, as the schema says
    broken = {**orders, "slos": {}}
    assert validate_odps(broken) == [
        "(root): Additional properties are not allowed ('slos' was unexpected)"]


def test_lineage_is_sorted_by_depth_with_one_naming(built_mesh: BuiltMesh) -> None:
    """Item 10: upstream first, each direction by depth, every end named alike
    (product versions as relations, sources, seeds and private models with their kind).
    Expected edges from the models' SQL: attribution reads orders v2 and the touches;
    orders v2 reads the order system and the products seed; attribution is read by
    customer_360, executive_kpis and campaign_performance; marketing's
    int_sales__orders imports orders."""
    upstream = json.loads(duckmesh(built_mesh.root, "catalog", "lineage",
                                   "marketing.attribution", "--json").stdout)
    assert [(e["direction"], e["depth"], e["from"], e["to"]) for e in upstream] == [
        ("upstream", 1, "marketing.source:ad_platform.touches", "marketing.attribution_v1"),
        ("upstream", 1, "sales.orders_v2", "marketing.attribution_v1"),
        ("upstream", 2, "sales.seed:products", "sales.orders_v2"),
        ("upstream", 2, "sales.source:order_system.order_lines", "sales.orders_v2"),
        ("upstream", 2, "sales.source:order_system.orders", "sales.orders_v2"),
        ("downstream", 1, "marketing.attribution_v1", "analytics.customer_360_v1"),
        ("downstream", 1, "marketing.attribution_v1", "analytics.executive_kpis_v1"),
        ("downstream", 1, "marketing.attribution_v1", "marketing.campaign_performance_v1"),
    ]
    text = duckmesh(built_mesh.root, "catalog", "lineage", "sales.orders",
                    "--downstream").stdout.splitlines()
    assert [line.split() for line in text[2:]] == [
        ["downstream", "1", "sales.orders_v2", "analytics.customer_360_v1"],
        ["downstream", "1", "sales.orders_v2", "analytics.executive_kpis_v1"],
        ["downstream", "1", "sales.orders_v2", "marketing.attribution_v1"],
        ["downstream", "1", "sales.orders_v2", "marketing.model:int_sales__orders"],
        ["downstream", "2", "marketing.attribution_v1", "analytics.customer_360_v1"],
        ["downstream", "2", "marketing.attribution_v1", "analytics.executive_kpis_v1"],
        ["downstream", "2", "marketing.attribution_v1", "marketing.campaign_performance_v1"],
    ]
