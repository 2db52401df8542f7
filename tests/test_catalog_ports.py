"""The catalog points at the Parquet port publish really writes (issue 15, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from conftest import BuiltMesh, clone_built, duckmesh

pytestmark = pytest.mark.integration


def test_catalog_names_the_published_parquet_port(built_mesh: BuiltMesh, tmp_path: Path) -> None:
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    duckmesh(root, "catalog", "refresh")  # after the build's publish
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


def test_catalog_slo_is_a_json_object(built_mesh: BuiltMesh) -> None:
    """Issue 15, item 7: slo->>'freshness_hours' reads the SLO, not NULL."""
    con = duckdb.connect(str(built_mesh.db_path), read_only=True)
    try:
        rows = con.execute(
            "select relation, json_type(slo), slo->>'freshness_hours', slo_freshness_hours "
            "from mesh_catalog.products where relation = 'sales.orders_v2'").fetchall()
    finally:
        con.close()
    assert rows == [("sales.orders_v2", "OBJECT", "24", 24.0)]


def test_descriptors_carry_no_machine_paths(built_mesh: BuiltMesh) -> None:
    """Issue 15, item 3: input ports name the source's files under $DUCKMESH_DATA and
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
