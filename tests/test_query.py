"""`duckmesh query` reads the mesh and nothing else (issue 18, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import BuiltMesh, duckmesh

pytestmark = pytest.mark.integration


def test_query_reads_the_mesh(built_mesh: BuiltMesh) -> None:
    result = duckmesh(built_mesh.root, "query", "select count(*) as n from sales.orders_v2",
                      "--json")
    assert result.stdout.strip() == '{"n": 10000}'


@pytest.mark.parametrize("sql", [
    "select * from read_csv('/etc/passwd')",
    "copy (select 1 as x) to '{out}/x.csv'",
    "export database '{out}/export'",
    "attach '{out}/other.duckdb' as other",
    "install httpfs",
])
def test_query_cannot_touch_other_files_or_write(built_mesh: BuiltMesh, tmp_path: Path,
                                                 sql: str) -> None:
    result = duckmesh(built_mesh.root, "query", sql.format(out=tmp_path), check=False)
    assert result.returncode == 1
    assert "duckmesh query: error: query refused: Permission Error:" in result.stderr
    assert (f"`duckmesh query` reads the tables of {built_mesh.db_path} only; it reads no "
            "other file and writes nothing") in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_query_cannot_lift_the_lock(built_mesh: BuiltMesh) -> None:
    result = duckmesh(built_mesh.root, "query", "set enable_external_access = true",
                      check=False)
    assert result.returncode == 1
    assert 'Cannot change configuration option "enable_external_access"' in result.stderr
