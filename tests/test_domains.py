"""Domain autonomy: every domain is a dbt package that builds, tests, governs and
publishes on its own, against the last publish, and that an outside project installs.

One clone of the session's built mesh (its publish included) serves every test here;
the domain builds write only into that clone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_SCALE, BuiltMesh, clone_built, duckmesh
from domain_helpers import DOMAINS, counts, plain_dbt, products_of
from duckmesh.core import builddb

pytestmark = pytest.mark.e2e  # builds domains alone, publishes, installs by git


@pytest.fixture(scope="module")
def mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone_built(built_mesh.root, tmp_path_factory.mktemp("domains") / "duckmesh")


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_domain_builds_alone_with_plain_dbt(mesh: Path, built_mesh: BuiltMesh,
                                                 domain: str) -> None:
    folder = mesh / "domains" / domain
    db = mesh / "target" / f"alone_{domain}.duckdb"
    env = {"DUCKMESH_DATA": str(built_mesh.data_dir), "DUCKMESH_DB": str(db)}
    plain_dbt(folder, "deps", env=env)
    result = plain_dbt(folder, "build", env=env)
    assert f"Using default selector {domain}" in result.stdout
    assert "DuckMesh governance: 0 error(s), 0 warning(s)" in result.stdout

    relations = products_of(mesh, domain)
    assert relations
    assert counts(db, relations) == counts(built_mesh.db_path, relations)
    ran = {r["unique_id"] for r in
           json.loads((folder / "target" / "run_results.json").read_text())["results"]}
    owners = {uid.split(".")[1] for uid in ran if not uid.startswith("operation.")}
    assert owners == {domain}  # upstream domains are read from the publish, not rebuilt


def test_marketing_alone_reads_sales_and_customers_from_the_publish(mesh: Path) -> None:
    # the mesh root's settings in the calling environment must not leak into the domain
    result = duckmesh(mesh, "build", "--domain", "marketing", "--scale", str(TEST_SCALE),
                      env={"DUCKMESH_PLATFORM": "macros", "DUCKMESH_DOMAINS": "domains"})
    assert "upstream customers, sales read from the last publish" in result.stdout
    run_results = json.loads(
        (mesh / "target/domains/marketing/target/run_results.json").read_text())
    ran = [r["unique_id"] for r in run_results["results"]]
    packages = {uid.split(".")[1] for uid in ran if not uid.startswith("operation.")}
    assert packages == {"marketing"}
    assert "model.marketing.attribution.v1" in ran
    assert not any(uid.startswith(("model.sales.", "model.customers.")) for uid in ran)
    # its input port reads the published orders: same rows as the mesh's sales.orders_v2
    built = mesh / "target/domains/marketing/build.duckdb"
    con = builddb.connect(built, read_only=True)
    try:  # the input port is a view over the publish, attached as the build attaches it
        con.execute(f"attach '{mesh / 'published' / 'mesh.duckdb'}' as published (read_only)")
        mine = con.execute("select count(*), sum(net_amount) from marketing.int_sales__orders"
                           ).fetchone()
    finally:
        con.close()
    con = duckdb.connect(str(mesh / "published" / "mesh.duckdb"), read_only=True)
    try:
        published = con.execute("select count(*), sum(net_amount) from sales.orders_v2"
                                ).fetchone()
    finally:
        con.close()
    assert mine == published


def test_the_root_project_builds_alone_against_the_publish(mesh: Path,
                                                            built_mesh: BuiltMesh) -> None:
    result = duckmesh(mesh, "build", "--domain", "analytics", "--scale", str(TEST_SCALE))
    db = mesh / "target/domains/analytics/build.duckdb"
    relations = ["analytics.customer_360_v1", "analytics.executive_kpis_v1"]
    assert counts(db, relations) == counts(built_mesh.db_path, relations)
    ran = json.loads((mesh / "target/domains/analytics/target/run_results.json").read_text())
    packages = {r["unique_id"].split(".")[1] for r in ran["results"]
                if not r["unique_id"].startswith("operation.")}
    assert packages == {"duckmesh"}, result.stdout


def test_an_upstream_version_missing_from_the_publish_is_named(
        mesh: Path, built_mesh: BuiltMesh, tmp_path: Path) -> None:
    published = tmp_path / "published"
    published.mkdir()
    shutil.copyfile(mesh / "published" / "mesh.duckdb", published / "mesh.duckdb")
    shutil.copyfile(mesh / "published" / "manifest.json", published / "manifest.json")
    con = duckdb.connect(str(published / "mesh.duckdb"))
    con.execute("drop view if exists sales.orders")
    con.execute("drop table sales.orders_v2")
    con.close()
    folder = mesh / "domains" / "marketing"
    env = {"DUCKMESH_DATA": str(built_mesh.data_dir), "DUCKMESH_PUBLISHED": str(published),
           "DUCKMESH_DB": str(tmp_path / "marketing.duckdb")}
    plain_dbt(folder, "deps", env=env)
    result = plain_dbt(folder, "build", env=env, check=False)
    assert result.returncode != 0
    assert (f"DuckMesh: marketing (int_sales__orders, a test of attribution) refs sales.orders "
            f"v2, which the last publish ({published}/mesh.duckdb) does not have (it has v1). "
            "Publish it first (`duckmesh ci --domain sales`), or ref a published version: "
            "ref('sales', 'orders', v=<n>).") in " ".join(result.stdout.split()), result.stdout


def test_a_violation_fails_a_domain_alone_build_with_the_mesh_builds_message(
        mesh: Path, built_mesh: BuiltMesh, tmp_path: Path) -> None:
    work = clone_built(mesh, tmp_path / "mesh")
    products = work / "domains" / "sales" / "models" / "products" / "_products.yml"
    text = products.read_text()
    assert "description: Order number, unique across channels." in text
    products.write_text(text.replace("description: Order number, unique across channels.",
                                     "description: ''", 1))
    mesh_report = duckmesh(work, "governance", "check", check=False)
    assert mesh_report.returncode == 1
    line = next(line for line in mesh_report.stdout.splitlines() if line.startswith("[P02"))
    assert line.startswith("[P02 error] domain sales, model.sales.orders.v")

    folder = work / "domains" / "sales"
    env = {"DUCKMESH_DATA": str(built_mesh.data_dir), "DUCKMESH_DB": str(tmp_path / "s.duckdb")}
    plain_dbt(folder, "deps", env=env)
    alone = plain_dbt(folder, "build", env=env, check=False)
    assert alone.returncode != 0
    assert line in alone.stdout  # the same finding, word for word, before any model runs
    assert "OK created" not in alone.stdout


def test_a_model_name_shared_with_an_installed_domain_is_refused(
        mesh: Path, tmp_path: Path) -> None:
    work = clone_built(mesh, tmp_path / "mesh")
    staging = work / "domains" / "marketing" / "models" / "staging"
    (staging / "stg_crm__customers.sql").write_text(
        "select * from {{ ref('stg_ad_platform__touches') }}\n")
    report = json.loads(duckmesh(work, "governance", "check", "--json", check=False).stdout)
    assert [(v["policy"], v["domain"], v["node"], v["message"]) for v in report["violations"]] == [
        ("P04", "marketing", "model.marketing.stg_crm__customers",
         "model name stg_crm__customers is also a model of customers, which marketing installs: "
         "built alone, marketing is dbt's root project and the refs and tests of customers "
         "would resolve to its own stg_crm__customers")]
