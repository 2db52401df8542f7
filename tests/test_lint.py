"""SQL style is policy: sqlfluff with the dbt templater passes on every model of
every domain, and really lints each of them (none skipped as 'not found'); `duckmesh
lint` names a file that breaks a rule. One clone of the session's built mesh for both:
its dbt packages are installed, and the first lint starts from the build's dbt parse, the
second from the first's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BuiltMesh, clone_built, duckmesh
from duckmesh.core.project import Mesh
from duckmesh.lint.runner import sql_paths, sqlfluff_env

pytestmark = pytest.mark.integration  # a clone of the session's built mesh


@pytest.fixture(scope="module")
def lint_mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone_built(built_mesh.root, tmp_path_factory.mktemp("lint") / "duckmesh")


def test_sqlfluff_lints_every_model_of_every_domain(lint_mesh: Path) -> None:
    mesh = Mesh(lint_mesh)
    env = sqlfluff_env(mesh)  # the environment `duckmesh lint` gives sqlfluff
    result = subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", *sql_paths(mesh), "--format", "json"],
        cwd=lint_mesh, env=env, capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    linted = {entry["filepath"] for entry in report}
    expected = {str(p.relative_to(lint_mesh))
                for folder in ["models", *(f"domains/{d.name}/models" for d in mesh.domain_dirs())]
                for p in (lint_mesh / folder).rglob("*.sql")}
    assert len(expected) >= 22  # the real mesh has 22 models; scaffolding adds more
    assert linted == expected
    violations = [(e["filepath"], v["code"], v["description"])
                  for e in report for v in e["violations"]]
    assert violations == []
    assert result.returncode == 0


# Last: it breaks a model of the module's copy.
def test_lint_reports_a_style_violation_by_file_and_rule(lint_mesh: Path) -> None:
    bad = lint_mesh / "domains/sales/models/staging/stg_order_system__orders.sql"
    text = bad.read_text()
    assert "select * from deduplicated" in text
    bad.write_text(text.replace("select * from deduplicated", "SELECT * FROM deduplicated"))
    result = duckmesh(lint_mesh, "lint", str(bad.relative_to(lint_mesh)), check=False)
    assert result.returncode == 1
    assert "== [domains/sales/models/staging/stg_order_system__orders.sql] FAIL" in result.stdout
    assert "CP01" in result.stdout
