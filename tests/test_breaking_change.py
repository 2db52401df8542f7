"""A breaking change shipped the way docs/self-serve.md ("Shipping a breaking change")
says, as a new user would: retype a published column in place, read P09's fix, run
`duckmesh new-version`, build. v1 stays as published for its readers; v2 has the new
type. The messages the walkthrough quotes are the ones the commands print."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import REPO, BuiltMesh, clone_built, duckmesh

pytestmark = pytest.mark.e2e

DOC = (REPO / "docs" / "self-serve.md").read_text()
PRODUCTS = Path("domains/customer_service/models/products")


def walkthrough() -> str:
    start = DOC.index("## Shipping a breaking change")
    return DOC[start:DOC.index("\n## ", start + 1) if "\n## " in DOC[start + 1:] else None]


def blocks(text: str, fence: str) -> list[str]:
    return re.findall(rf"```{fence}\n(.*?)```", text, flags=re.S)


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return con.execute("select column_name, data_type from information_schema.columns "
                       "where table_catalog = current_database() and "
                       "table_schema = 'customer_service' and table_name = ? "
                       "order by ordinal_position", [table]).fetchall()


def test_a_retyped_published_column_ships_as_v2_with_one_command(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    with duckdb.connect(str(root / "published" / "mesh.duckdb"), read_only=True) as con:
        published_v1 = columns(con, "satisfaction_v1")
        scores = con.execute("select customer_id, csat_rate from "
                             "customer_service.satisfaction_v1 order by 1").fetchall()
    assert ("csat_rate", "DECIMAL(6,4)") in published_v1
    sql_v1 = root / PRODUCTS / "satisfaction_v1.sql"
    published_sql = sql_v1.read_text()
    yml = root / PRODUCTS / "_products.yml"
    published_yml = yml.read_text()

    # 1. the change made in place, as the walkthrough describes it
    text = walkthrough()
    assert ("`as double` instead of `as {{ duckmesh_platform.mesh_type('decimal(6,4)') }}` "
            "on `csat_rate`") in text
    edited_sql = published_sql.replace(
        "as {{ duckmesh_platform.mesh_type('decimal(6,4)') }}\n        ) as csat_rate",
        "as double\n        ) as csat_rate")
    assert edited_sql != published_sql
    assert edited_sql != published_sql
    sql_v1.write_text(edited_sql)
    at = published_yml.index("      - name: csat_rate\n")
    typed = published_yml.index("data_type: decimal(6,4)", at)
    yml.write_text(published_yml[:typed] + "data_type: double"
                   + published_yml[typed + len("data_type: decimal(6,4)"):])

    refused = duckmesh(root, "build", check=False)
    assert refused.returncode == 1
    p09 = blocks(text, "")[0].strip()
    assert p09 in refused.stdout.splitlines() or f"  {p09}" in refused.stdout.splitlines()
    assert "run `duckmesh new-version customer_service.satisfaction`" in p09

    # 2. the commands of the walkthrough, in order
    commands = [line.split()[1:] for line in blocks(text, "sh")[0].splitlines()]
    assert commands == [["new-version", "customer_service.satisfaction"], ["build"]]
    versioned = duckmesh(root, *commands[0])
    printed = blocks(text, "")[1].strip().splitlines()
    assert versioned.stdout.splitlines()[:len(printed)] == printed
    assert (root / PRODUCTS / "satisfaction_v2.sql").read_text() == edited_sql
    assert sql_v1.read_text() == published_sql
    entry = next(m for m in yaml.safe_load(yml.read_text())["models"]
                 if m["name"] == "satisfaction")
    assert entry["latest_version"] == 2
    own = entry["versions"][1]["columns"]
    assert own[0] == {"include": "all", "exclude": ["csat_rate", "last_ticket_at"]}
    assert [(c["name"], c["data_type"]) for c in own[1:]] == [
        ("csat_rate", "decimal(6,4)"), ("last_ticket_at", "timestamp with time zone")]
    built = duckmesh(root, *commands[1])
    assert "customer_service.satisfaction_v2" in built.stdout

    # 3. v1 unchanged for its readers, v2 with the new type, the latest view on v2
    with duckdb.connect(str(root / "published" / "mesh.duckdb"), read_only=True) as con:
        assert columns(con, "satisfaction_v1") == published_v1
        assert con.execute("select customer_id, csat_rate from "
                           "customer_service.satisfaction_v1 order by 1").fetchall() == scores
        assert columns(con, "satisfaction_v2") == [
            (name, "DOUBLE" if name == "csat_rate" else data_type)
            for name, data_type in published_v1]
        assert columns(con, "satisfaction") == columns(con, "satisfaction_v2")
        exact = con.execute("select count(*) from customer_service.satisfaction_v2 as v2 "
                            "join customer_service.satisfaction_v1 as v1 using (customer_id) "
                            "where round(v2.csat_rate, 4) "
                            "is distinct from v1.csat_rate").fetchone()
        assert exact == (0,)


def test_new_version_of_a_product_as_published_copies_it(built_mesh: BuiltMesh,
                                                         tmp_path: Path) -> None:
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    sql_v1 = root / PRODUCTS / "satisfaction_v1.sql"
    result = duckmesh(root, "new-version", "customer_service.satisfaction")
    assert result.stdout.splitlines()[0] == (
        "created customer_service.satisfaction v2 (a copy of v1); latest_version: 2")
    assert (root / PRODUCTS / "satisfaction_v2.sql").read_text() == sql_v1.read_text()
    entry = next(m for m in yaml.safe_load((root / PRODUCTS / "_products.yml").read_text())
                 ["models"] if m["name"] == "satisfaction")
    assert "columns" not in entry["versions"][1]


def test_a_product_sql_without_yml_gets_fixes_naming_the_file_and_the_command(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    products = root / "domains" / "sales" / "models" / "products"
    query = "select order_id from {{ ref('int_orders_totals') }}\n"
    (products / "refunds.sql").write_text(query)
    check = duckmesh(root, "governance", "check", "--json", check=False)
    assert check.returncode == 1, check.stdout[-3000:] + check.stderr[-3000:]
    report = json.loads(check.stdout[check.stdout.index("{"):])
    mine = [v for v in report["violations"] if v["node"] == "model.sales.refunds"]
    assert len(mine) >= 3, report["violations"]
    where = ("models/products/_refunds.yml, a file to create (no yml documents refunds "
             "yet; `duckmesh new-product sales refunds --sql "
             "domains/sales/models/products/refunds.sql` writes it with a typed contract "
             "and turns the SQL into refunds_v1.sql)")
    naming = [v for v in mine if "_refunds.yml" in v["fix"] or "refunds.sql" in v["fix"]]
    assert naming and all(where in v["fix"] for v in naming), naming
    assert not any(" in models/products/refunds.sql" in v["fix"] for v in mine), mine

    # the command the fix names does what it says
    made = duckmesh(root, "new-product", "sales", "refunds", "--sql",
                    "domains/sales/models/products/refunds.sql", "--primary-key", "order_id")
    assert ("  - moved domains/sales/models/products/refunds.sql to "
            "domains/sales/models/products/refunds_v1.sql (v1 of the product)"
            ) in made.stdout.splitlines()
    assert not (products / "refunds.sql").exists()
    assert (products / "refunds_v1.sql").read_text() == query
    entry = yaml.safe_load((products / "_refunds.yml").read_text())["models"][0]
    assert entry["latest_version"] == 1 and entry["versions"] == [{"v": 1}]
    assert [(c["name"], c["data_type"]) for c in entry["columns"]] == [("order_id", "varchar")]
