"""`duckmesh build` over a database built from another data set rebuilds the
incremental products instead of merging into them; a copied checkout keeps dbt's parse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import TEST_SCALE, BuiltMesh, clone_built, duckmesh

pytestmark = pytest.mark.e2e

NOTICE = "another data set than the last build (scale, seed or DUCKMESH_DATA): --full-refresh"


def test_switching_scale_rebuilds_incremental_products(built_mesh: BuiltMesh,
                                                      tmp_path: Path) -> None:
    """The session's mesh (built at TEST_SCALE into an empty database: no notice), copied
    to another folder and built at another scale, then at that scale again. The copy
    recognises its own build record (a moved checkout), and keeps dbt's saved parse: dbt
    gets the database file relative to the mesh root (it hashes the profile's values into
    its parse state), so only the files that read the other data set are parsed again."""
    assert NOTICE not in built_mesh.build_output
    assert f"at scale {TEST_SCALE:g}:" in built_mesh.build_output
    root = clone_built(built_mesh.root, tmp_path / "elsewhere")
    log = root / "logs" / "dbt.log"
    seen = len(log.read_text().splitlines())
    second = duckmesh(root, "build", "--scale", "0.005")
    assert NOTICE in second.stdout
    lines = log.read_text().splitlines()[seen:]
    assert [line for line in lines if "Unable to do partial parsing" in line] == []
    assert any("Partial parsing enabled" in line for line in lines)
    data = root / "data" / "scale_0.005"
    con = duckdb.connect(str(root / "mesh.duckdb"), read_only=True)
    expected = duckdb.connect().execute(
        f"select count(*), sum(quantity * unit_price - discount) "
        f"from read_parquet('{data}/sales/order_lines/*.parquet')").fetchall()[0]
    assert con.execute("select count(*), sum(net_amount) from sales.order_items"
                       ).fetchall()[0] == expected
    assert con.execute("select count(*) from sales.orders").fetchall()[0][0] == 5000
    con.close()
    third = duckmesh(root, "build", "--scale", "0.005")
    assert NOTICE not in third.stdout
