"""Scale out (issue 9), the checks that need a Spark session but not the module's Spark
build (test_scale_out.py): governance evaluated on Spark, and a session not in UTC. A
file of their own, so a parallel run (make test) starts them beside that build.
Needs Java and the `spark` extra; DUCKMESH_SKIP_SPARK=1 skips the module explicitly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_SCALE, BuiltMesh, clone_built, duckmesh
from duckmesh.governance.report import MARKER
from test_governance import dbt as governance_dbt
from test_governance import make_fixture_mesh

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("DUCKMESH_SKIP_SPARK") == "1",
                       reason="DUCKMESH_SKIP_SPARK=1"),
]

DBT = str(Path(sys.executable).parent / "dbt")


def test_a_session_not_in_utc_stops_the_build_with_the_fix(built_mesh: BuiltMesh,
                                                          tmp_path: Path) -> None:
    root = clone_built(built_mesh.root, tmp_path / "duckmesh")
    result = duckmesh(root, "scale-out", "build", "--scale", str(TEST_SCALE), "--select",
                      "stg_crm__customers", check=False,
                      env={"DUCKMESH_SPARK_DIR": str(root / "target" / "spark"),
                           "DUCKMESH_SPARK_TIMEZONE": "Europe/Paris"})
    assert result.returncode == 1
    assert ("the Spark session time zone is Europe/Paris, the mesh needs UTC: set "
            "spark.sql.session.timeZone: UTC in the target's server_side_parameters "
            "(profiles/profiles.yml)") in result.stdout
    assert "START sql" not in result.stdout


def test_governance_finds_the_same_violations_on_spark(tmp_path: Path) -> None:
    """The governance fixture mesh (a domain breaking each policy, a published baseline
    for P09, restrict-access read from the installed packages for P03): the same
    report, finding for finding, on Spark as on DuckDB."""
    root = make_fixture_mesh(tmp_path / "mesh")
    assert governance_dbt(root, "deps").returncode == 0
    on_duckdb = json.loads(duckmesh(root, "governance", "check", "--json", check=False).stdout)
    result = subprocess.run(
        [DBT, "--no-use-colors", "run-operation", "mesh_governance", "--args", "{format: json}",
         "--target", "spark", "--project-dir", str(root), "--profiles-dir", "profiles"],
        cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "DUCKMESH_SPARK_DIR": str(tmp_path / "spark"),
             "DUCKMESH_DB": str(root / "mesh.duckdb")})
    marked = [line for line in result.stdout.splitlines() if MARKER in line]
    assert len(marked) == 1, result.stdout[-3000:] + result.stderr[-3000:]
    on_spark = json.loads(marked[0].split(MARKER, 1)[1])

    def findings(report: dict) -> list[tuple]:
        return sorted(tuple(v[k] or "" for k in ("policy", "severity", "domain", "node",
                                                   "column", "message", "fix"))
                      for v in report["violations"])

    assert on_duckdb["errors"] == 24
    assert findings(on_spark) == findings(on_duckdb)
    policies = {f[0] for f in findings(on_spark)}
    assert {"P03", "P09", "P10"} <= policies  # the ones that read files or know engines
