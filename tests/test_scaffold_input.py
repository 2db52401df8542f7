"""Scaffolding runs exactly one query and never changes the database (issue 18, item 7)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import BuiltMesh, clone_built, duckmesh

pytestmark = pytest.mark.integration


def test_new_product_refuses_several_statements(built_mesh: BuiltMesh, tmp_path: Path) -> None:
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    sql = tmp_path / "evil.sql"
    sql.write_text("select order_id from {{ ref('sales', 'orders') }};\n"
                   "drop table sales.orders_v1\n")
    result = duckmesh(root, "new-product", "marketing", "evil_orders", "--sql", str(sql),
                      check=False)
    assert result.returncode == 2
    assert (f"duckmesh new-product: error: --sql {sql} must hold exactly one SELECT; it "
            "holds 2 statement(s) (SELECT, DROP). A product is one query, and scaffolding "
            "never runs anything that changes the database") in result.stderr
    con = duckdb.connect(str(root / "mesh.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from sales.orders_v1").fetchone()[0] == 10000
    finally:
        con.close()
    products = root / "domains" / "marketing" / "models" / "products"
    assert not (products / "evil_orders_v1.sql").exists()
    assert not (products / "_evil_orders.yml").exists()


def test_the_one_query_runs_on_a_read_only_connection(built_mesh: BuiltMesh,
                                                      tmp_path: Path) -> None:
    """The connection scaffolding describes the query on cannot write, even if the query
    slipped past the one-SELECT check."""
    from duckmesh.selfserve.contracts import connect_db, describe_query

    root = clone_built(built_mesh.root, tmp_path / "mesh")
    con = connect_db(root / "mesh.duckdb")
    try:
        columns = describe_query(con, "select order_id, customer_id from sales.orders_v1")
        assert [(c.name, c.data_type) for c in columns] == [("order_id", "varchar"),
                                                            ("customer_id", "varchar")]
        with pytest.raises(duckdb.InvalidInputException, match="attached in read-only mode"):
            con.execute("drop table sales.orders_v1")
    finally:
        con.close()
    check = duckdb.connect(str(root / "mesh.duckdb"), read_only=True)
    try:
        assert check.execute("select count(*) from sales.orders_v1").fetchone()[0] == 10000
    finally:
        check.close()
