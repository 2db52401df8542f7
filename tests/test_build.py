"""`duckmesh build` over a database built from another data set rebuilds the
incremental products instead of merging into them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import duckmesh

pytestmark = pytest.mark.e2e

NOTICE = "another data set than the last build (scale, seed or DUCKMESH_DATA): --full-refresh"


def test_switching_scale_rebuilds_incremental_products(mesh_copy: Path) -> None:
    first = duckmesh(mesh_copy, "build", "--scale", "0.002")
    assert NOTICE not in first.stdout
    second = duckmesh(mesh_copy, "build", "--scale", "0.005")
    assert NOTICE in second.stdout
    data = mesh_copy / "data" / "scale_0.005"
    con = duckdb.connect(str(mesh_copy / "mesh.duckdb"), read_only=True)
    expected = duckdb.connect().execute(
        f"select count(*), sum(quantity * unit_price - discount) "
        f"from read_parquet('{data}/sales/order_lines/*.parquet')").fetchall()[0]
    assert con.execute("select count(*), sum(net_amount) from sales.order_items"
                       ).fetchall()[0] == expected
    assert con.execute("select count(*) from sales.orders").fetchall()[0][0] == 5000
    con.close()
    third = duckmesh(mesh_copy, "build", "--scale", "0.005")
    assert NOTICE not in third.stdout
