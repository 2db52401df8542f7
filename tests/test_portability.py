"""Portability layer (macros/portability/): harmonised types rendered per engine,
and contracts that name their types logically. The Spark side is proven by the Spark
build itself (tests/test_scale_out.py): dbt checks every contract there."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_SCALE, BuiltMesh, clone_built, dbt_cli, duckmesh
from duckmesh.core import builddb

LOGICAL = ["text", "integer", "bigint", "double", "boolean", "date", "money", "timestamp_tz",
           "timestamp", "varchar", "decimal(18, 2)", "timestamp with time zone", "decimal(4,2)"]


def compile_inline(root: Path, sql: str, target: str = "dev") -> str:
    result = dbt_cli(["--quiet", "compile", "--inline", sql, "--profiles-dir", "profiles",
                      "--target", target], cwd=root,
                     env={**os.environ, "DUCKMESH_DB": str(root / "mesh.duckdb")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout.strip()


@pytest.fixture(scope="module")
def inline_mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clone for the inline compiles of this file: the first parses the clone in
    full (its database path differs from the built mesh's), the others partially."""
    return clone_built(built_mesh.root, tmp_path_factory.mktemp("inline") / "mesh")


def test_mesh_type_spells_every_logical_type_for_duckdb(inline_mesh: Path) -> None:
    root = inline_mesh
    rendered = compile_inline(root, "select '" + "|".join(
        f"{{{{ duckmesh_platform.mesh_type('{name}') }}}}" for name in LOGICAL) + "'")
    assert rendered == "select '" + "|".join([
        "varchar", "integer", "bigint", "double", "boolean", "date", "decimal(18,2)",
        "timestamp with time zone", "timestamp", "varchar", "decimal(18,2)",
        "timestamp with time zone", "decimal(4,2)"]) + "'"


def test_java_patterns_and_rounding_macros_render_as_documented(inline_mesh: Path) -> None:
    root = inline_mesh
    pattern = compile_inline(
        root, "select '{{ duckmesh_platform.java_datetime_pattern(\"%d/%m/%Y %H:%M:%S\") }}'")
    assert pattern == "select 'dd/MM/yyyy HH:mm:ss'"
    sql = compile_inline(root, "select {{ duckmesh_platform.divide_rounded('85338', '3600', 2) }} as hours, "
                               "{{ duckmesh_platform.divide_rounded('1', '0', 2) }} as none")
    with duckdb.connect() as con:
        hours, none = con.execute(sql).fetchone()
    assert (hours, none) == (23.71, None)  # 23.705 h rounds half up, not to 23.70


@pytest.mark.e2e
def test_a_contract_may_name_its_types_logically(built_copy: Path) -> None:
    """money / timestamp_tz / text in the YAML: DuckDB's contract check, DDL and the
    harmonised-type policy (P05) read them as decimal(18,2), timestamptz and varchar."""
    products = built_copy / "domains/customers/models/products/_products.yml"
    text = products.read_text()
    assert text.count("data_type: timestamp with time zone") == 1
    text = text.replace("data_type: timestamp with time zone", "data_type: timestamp_tz")
    products.write_text(text.replace("data_type: varchar", "data_type: text", 1))
    result = duckmesh(built_copy, "build", "--scale", str(TEST_SCALE))
    assert "DuckMesh governance: 0 error(s), 0 warning(s)" in result.stdout
    with builddb.connect(built_copy / "mesh.duckdb", read_only=True) as con:
        types = dict(con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() and "
            "table_schema = 'customers' and table_name = 'customers_v1'").fetchall())
    assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["customer_id"] == "VARCHAR"
