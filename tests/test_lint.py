"""SQL style is policy: sqlfluff with the dbt templater passes on every model of
every domain, and really lints each of them (none skipped as 'not found')."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import dbt_cli, duckmesh
from duckmesh.core.project import Mesh
from duckmesh.lint.runner import sql_paths


def test_sqlfluff_lints_every_model_of_every_domain(mesh_copy: Path) -> None:
    # dbt deps installs the domains; lint needs them to compile.
    deps = dbt_cli(["deps", "--project-dir", str(mesh_copy), "--profiles-dir",
                    str(mesh_copy / "profiles")], cwd=mesh_copy, env=dict(os.environ))
    assert deps.returncode == 0, deps.stdout[-3000:]
    mesh = Mesh(mesh_copy)
    env = {**os.environ, "DUCKMESH_DB": str(mesh_copy / "mesh.duckdb"),
           "DUCKMESH_DATA": str(mesh_copy / "data" / "lint")}
    result = subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", *sql_paths(mesh), "--format", "json"],
        cwd=mesh_copy, env=env, capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    linted = {entry["filepath"] for entry in report}
    expected = {str(p.relative_to(mesh_copy))
                for folder in ["models", *(f"domains/{d.name}/models" for d in mesh.domain_dirs())]
                for p in (mesh_copy / folder).rglob("*.sql")}
    assert len(expected) >= 22  # the real mesh has 22 models; scaffolding adds more
    assert linted == expected
    violations = [(e["filepath"], v["code"], v["description"])
                  for e in report for v in e["violations"]]
    assert violations == []
    assert result.returncode == 0


def test_lint_reports_a_style_violation_by_file_and_rule(mesh_copy: Path) -> None:
    bad = mesh_copy / "domains/sales/models/staging/stg_order_system__orders.sql"
    text = bad.read_text()
    assert "select * from deduplicated" in text
    bad.write_text(text.replace("select * from deduplicated", "SELECT * FROM deduplicated"))
    result = duckmesh(mesh_copy, "lint", str(bad.relative_to(mesh_copy)), check=False)
    assert result.returncode == 1
    assert "== [domains/sales/models/staging/stg_order_system__orders.sql] FAIL" in result.stdout
    assert "CP01" in result.stdout
