"""Scaffolding runs exactly one query and never changes the database."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import BuiltMesh, clone_built, duckmesh
from duckmesh.core import builddb

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
    con = builddb.connect(root / "mesh.duckdb", read_only=True)
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
    check = builddb.connect(root / "mesh.duckdb", read_only=True)
    try:
        assert check.execute("select count(*) from sales.orders_v1").fetchone()[0] == 10000
    finally:
        check.close()


# -- what new-domain writes stays valid YAML; names that collide are refused ----

DOMAIN = ["--email", "f@x.org", "--kind", "consumer"]


@pytest.mark.parametrize(("args", "message"), [
    (["finance", "--owner", 'Fin "Team"\nrestrict-access: false\n# \'', *DOMAIN],
     "--owner 'Fin \"Team\"\\nrestrict-access: false\\n# \\'' holds the control character "
     "'\\n': give one line of plain text, e.g. \"Finance Team\""),
    (["finance", "--owner", "{{ env_var('AWS_SECRET') }}", *DOMAIN],
     "--owner \"{{ env_var('AWS_SECRET') }}\" holds '{{', which dbt would read as Jinja: give "
     "plain text, e.g. \"Finance Team\""),
    (["finance", "--owner", "F", "--description", "a\rb", *DOMAIN],
     "--description 'a\\rb' holds the control character '\\r': give one line of plain text, "
     "e.g. \"Finance Team\""),
    (["finance", "--owner", "F", "--email", "{f}@x.org", "--kind", "consumer"],
     "owner e-mail '{f}@x.org' is not an e-mail address (expected name@example.org)"),
    (["duckmesh_platform", "--owner", "F", *DOMAIN],
     "domain name 'duckmesh_platform' is the name of the platform package "
     "(macros/dbt_project.yml): a domain is a dbt package and two packages of one name "
     "collide; choose another (for example 'duckmesh_platform_domain')"),
    (["ref", "--owner", "F", *DOMAIN],
     "domain name 'ref' is a word dbt reserves (a project may not be named so): choose "
     "another (for example 'ref_domain')"),
    (["dbt_utils", "--owner", "F", *DOMAIN],
     "domain name 'dbt_utils' starts with 'dbt_', which dbt and its adapters use for their "
     "own packages: choose another (for example 'utils')"),
    (["duckmesh", "--owner", "F", *DOMAIN],
     "domain name 'duckmesh' is used by the mesh itself: choose another"),
])
def test_new_domain_refuses_input_that_would_break_the_project(mesh_copy: Path,
                                                               args: list[str],
                                                               message: str) -> None:
    """The probe's --owner with a newline and quotes wrote a dbt_project.yml with an
    injected line; `new-domain duckmesh_platform` was accepted."""
    packages = (mesh_copy / "packages.yml").read_text()
    result = duckmesh(mesh_copy, "new-domain", *args, check=False)
    assert result.returncode == 2
    assert result.stderr == f"duckmesh new-domain: error: {message}\n"
    assert not (mesh_copy / "domains" / args[0]).exists()
    assert (mesh_copy / "packages.yml").read_text() == packages


def test_quotes_in_the_owner_are_written_as_yaml_scalars(mesh_copy: Path) -> None:
    owner = "Fin \"Team\" 'B': #1 & *x"
    duckmesh(mesh_copy, "new-domain", "finance", "--owner", owner, "--email",
             "o'brien@x.org", "--kind", "consumer", "--description", "Money: \"in\" & 'out'")
    folder = mesh_copy / "domains" / "finance"
    groups = yaml.safe_load((folder / "models" / "_groups.yml").read_text())["groups"][0]
    assert groups["owner"] == {"name": owner, "email": "o'brien@x.org"}
    assert groups["description"] == "Money: \"in\" & 'out'"
    project = yaml.safe_load((folder / "dbt_project.yml").read_text())
    assert project["name"] == "finance" and project["restrict-access"] is True
