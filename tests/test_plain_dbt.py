"""Plain dbt works after `duckmesh build`, and running it does
not break the platform's steps.

Item 8: the sources' default location is the last build's data set (``data/current``,
a link the build keeps), so `dbt show` and `dbt docs generate` at the root read real
files with no setting. Item 9: `dbt docs generate` rewrites target/manifest.json and
run_results.json; `duckmesh publish` and the catalog read the build's own copy."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_SCALE, BuiltMesh, clone_built, dbt_cli, duckmesh

pytestmark = pytest.mark.e2e



def _plain_dbt(root: Path, *args: str) -> subprocess.CompletedProcess:
    """dbt as a user runs it at the root: no DUCKMESH_* variable set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCKMESH_")}
    return dbt_cli([*args, "--profiles-dir", "profiles"], cwd=root, env=env)


@pytest.fixture(scope="module")
def mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone_built(built_mesh.root, tmp_path_factory.mktemp("plain") / "mesh")


def test_plain_dbt_reads_the_last_builds_data_set(mesh: Path) -> None:
    link = mesh / "data" / "current"
    assert os.readlink(link) == f"scale_{TEST_SCALE:g}"
    shown = _plain_dbt(mesh, "show", "--inline", "select count(*) as n from "
                       "{{ source('order_system', 'orders') }}", "--output", "json")
    assert shown.returncode == 0, shown.stdout[-3000:]
    printed = json.loads(shown.stdout[shown.stdout.index("{"):shown.stdout.rindex("}") + 1])
    with duckdb.connect() as con:
        expected = con.execute("select count(*) from read_parquet("
                               f"'{link}/sales/orders/*.parquet')").fetchone()[0]
    assert printed == {"show": [{"n": expected}]} and expected == 10_000


def test_dbt_docs_generate_leaves_publish_and_the_catalog_working(mesh: Path) -> None:
    docs = _plain_dbt(mesh, "docs", "generate")
    assert docs.returncode == 0, docs.stdout[-3000:]
    manifest = json.loads((mesh / "target" / "manifest.json").read_text())
    source = manifest["sources"]["source.sales.order_system.orders"]
    assert source["relation_name"] == "read_parquet('data/current/sales/orders/*.parquet')"
    results = json.loads((mesh / "target" / "run_results.json").read_text())
    assert results["args"]["which"] == "generate"
    kept = json.loads((mesh / "target" / "duckmesh" / "run_results.json").read_text())
    assert kept["args"]["which"] == "build"

    published = duckmesh(mesh, "publish")
    assert "10 product versions built" in published.stdout
    snapshot = (mesh / "published" / "current").resolve()
    record = json.loads((snapshot / "publish.json").read_text())
    assert record["invocation_id"] == kept["metadata"]["invocation_id"]
    assert json.loads((snapshot / "manifest.json").read_text())["metadata"][
        "invocation_id"] == kept["metadata"]["invocation_id"]
    shown = json.loads(duckmesh(mesh, "catalog", "show", "sales.orders", "--json").stdout)
    assert shown["parquet_location"] == "published/sales/orders/v2/orders_v2.parquet"
    assert [c["status"] for c in shown["quality_checks"]] == ["pass"] * len(
        shown["quality_checks"])


def test_platform_steps_read_the_build_after_run_operation_parse_and_docs(mesh: Path) -> None:
    """Whatever dbt command that builds nothing ran since the build (a governance block
    of docs/governance.md, dbt parse, dbt docs generate), publish, the catalog and
    observe read the build's own artifacts."""
    kept = json.loads((mesh / "target" / "duckmesh" / "run_results.json").read_text())
    build_id = kept["metadata"]["invocation_id"]
    for args in (["run-operation", "mesh_governance"], ["docs", "generate"], ["parse"]):
        ran = _plain_dbt(mesh, *args)
        assert ran.returncode == 0, ran.stdout[-3000:]
        assert json.loads((mesh / "target" / "manifest.json").read_text())[
            "metadata"]["invocation_id"] != build_id
        published = duckmesh(mesh, "publish", "--force")
        snapshot = (mesh / "published" / "current").resolve()
        assert json.loads((snapshot / "publish.json").read_text())["invocation_id"] == \
            build_id, (args, published.stdout)
        refreshed = duckmesh(mesh, "catalog", "refresh")
        assert "10 product versions" in refreshed.stdout, refreshed.stdout
    observed = duckmesh(mesh, "observe", check=False)
    assert observed.stderr.endswith(f"run {build_id} (target/run_results.json) is already "
                                    "recorded: run `duckmesh build` or a dbt build first\n")


def test_publish_refuses_after_a_dbt_command_that_builds_tables(mesh: Path) -> None:
    ran = _plain_dbt(mesh, "run", "--select", "stg_crm__customers")
    assert ran.returncode == 0, ran.stdout[-3000:]
    before = (mesh / "published" / "current").readlink()
    result = duckmesh(mesh, "publish", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "duckmesh publish: error: target/run_results.json is from a `dbt run` after the "
        "last build, which may have changed tables the build's tests never saw: run "
        "`duckmesh build` (it publishes when it ends)\n")
    assert (mesh / "published" / "current").readlink() == before
