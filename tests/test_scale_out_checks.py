"""Scale out, the checks that need a Spark session but not the module's Spark build
(test_scale_out.py): governance evaluated on Spark, and a session not in UTC refused,
both in one local session. A file of its own, so a parallel run (make test-engines)
starts it beside that build. Needs Java and the `spark` extra; DUCKMESH_SKIP_SPARK=1 skips it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import duckmesh, project_dbt
from duckmesh.governance.report import MARKER
from test_governance import make_fixture_mesh

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("DUCKMESH_SKIP_SPARK") == "1",
                       reason="DUCKMESH_SKIP_SPARK=1"),
]


def test_governance_on_spark_matches_duckdb_and_a_session_not_in_utc_stops(
        tmp_path: Path) -> None:
    """The governance fixture mesh (a domain breaking each policy, a published baseline
    for P09, restrict-access read from the installed packages for P03): the same
    report, finding for finding, on Spark as on DuckDB. The session runs in
    Europe/Paris, which the policies never read; the check every Spark build runs first
    (on-run-start registers the file sources after it) then refuses that session."""
    root = make_fixture_mesh(tmp_path / "mesh")
    assert project_dbt(root, "deps").returncode == 0
    on_duckdb = json.loads(duckmesh(root, "governance", "check", "--json", check=False).stdout)
    # one local session (in this process) for both calls: its time zone is fixed when
    # it starts
    spark = {**os.environ, "DUCKMESH_SPARK_DIR": str(tmp_path / "spark"),
             "DUCKMESH_DB": str(root / "mesh.duckdb"), "DUCKMESH_SPARK_TIMEZONE": "Europe/Paris"}
    result = project_dbt(root, "run-operation", "mesh_governance", "--args", "{format: json}",
                         "--target", "spark", env=spark)
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

    refused = project_dbt(root, "run-operation", "register_file_sources", "--target", "spark",
                          env=spark)
    assert refused.returncode != 0
    assert ("the Spark session time zone is Europe/Paris, the mesh needs UTC: set "
            "spark.sql.session.timeZone: UTC in the target's server_side_parameters "
            "(profiles/profiles.yml)") in refused.stdout
