"""`duckmesh build` over a database built from another data set rebuilds the
incremental products instead of merging into them; a copied checkout keeps dbt's parse;
a build over unchanged data keeps the published snapshot; the governance check then
judges the build's manifest without dbt."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_SCALE, BuiltMesh, clone_built, duckmesh
from duckmesh.core import builddb

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
    con = builddb.connect(root / "mesh.duckdb", read_only=True)
    expected = duckdb.connect().execute(
        f"select count(*), sum(quantity * unit_price - discount) "
        f"from read_parquet('{data}/sales/order_lines/*.parquet')").fetchall()[0]
    assert con.execute("select count(*), sum(net_amount) from sales.order_items"
                       ).fetchall()[0] == expected
    assert con.execute("select count(*) from sales.orders").fetchall()[0][0] == 5000
    con.close()
    published = root / "published"
    second_snapshot = (published / "current").readlink().name
    kept = sorted(p.name for p in (published / "snapshots").iterdir())
    third = duckmesh(root, "build", "--scale", "0.005")
    assert NOTICE not in third.stdout
    # a warm build over the same data publishes nothing new: the snapshot is kept ...
    assert (published / "current").readlink().name == second_snapshot
    assert sorted(p.name for p in (published / "snapshots").iterdir()) == kept
    verified = json.loads((published / "verified.json").read_text())
    run_id = json.loads((root / "target" / "run_results.json").read_text()
                        )["metadata"]["invocation_id"]
    assert (verified["snapshot"], verified["invocation_id"], verified["outcome"]) == (
        second_snapshot, run_id, "unchanged")
    assert (f"      unchanged: snapshot {second_snapshot} kept (10 product versions, their "
            f"consumers and access as published; verified {verified['verified_at']})"
            ) in third.stdout.splitlines()
    # ... and freshness is measured on this build, not on the kept snapshot: a product
    # without a freshness column counts its age from this run's build of it
    published_at = datetime.fromisoformat(json.loads(
        (published / "current" / "publish.json").read_text())["published_at"])
    con = builddb.connect(root / "mesh.duckdb", read_only=True)
    ages = con.execute(
        "select s.product, s.observed, epoch(r.ended_at) - epoch(m.built_at), m.built_at, s.met "
        "from mesh_observability.slo_status as s "
        "join mesh_observability.runs as r using (run_id) "
        "join mesh_observability.product_metrics as m "
        "on m.run_id = s.run_id and m.product = s.product and m.version = s.version "
        "where s.run_id = ? and s.slo = 'freshness' and s.column_name is null",
        [run_id]).fetchall()
    con.close()
    assert len(ages) == 6
    for product, observed, seconds, built_at, met in ages:
        assert observed == pytest.approx(seconds / 3600, abs=1e-9), product  # to the µs
        assert built_at > published_at and met, product
    # every build times its steps, prints them in one line and keeps them
    steps = json.loads((root / "target" / "last_build" / "steps.json").read_text())
    assert list(steps) == ["published_check", "project_checks", "source_checks",
                           "dbt build", "governance_gate", "consumer_impact", "publish",
                           "catalog", "observability"]
    assert all(0 <= step["wall"] and 0 <= step["cpu"] for step in steps.values())
    outside = {name: step for name, step in steps.items() if name != "dbt build"}
    line = (f"platform steps {sum(s['wall'] for s in outside.values()):.2f}s "
            f"({sum(s['cpu'] for s in outside.values()):.2f} CPU s) beside dbt build "
            f"{steps['dbt build']['wall']:.1f}s: "
            + ", ".join(f"{name} {step['wall']:.2f}s" for name, step in outside.items()))
    assert line in third.stdout.splitlines()
    # the governance check after a build judges the build's manifest, without dbt, and
    # says what dbt's own run of the policies says
    saved = json.loads(duckmesh(root, "governance", "check", "--json").stdout)
    in_dbt = json.loads(duckmesh(root, "governance", "check", "--dbt", "--json").stdout)
    assert (saved["source"], in_dbt["source"]) == ("saved manifest", "dbt")
    assert (saved["errors"], saved["warnings"], saved["models"], saved["public_models"]) == (
        0, 0, 22, 10)
    for key in ("violations", "exempted", "models", "public_models", "changes"):
        assert saved[key] == in_dbt[key], key
