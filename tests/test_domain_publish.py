"""Domain autonomy, part two: one domain's CI publishes only its products; an outside
project installs a domain by git tag; a third-party library inside a domain; the bad
inputs of a domain build (no publish, another dbt's manifest, an undeclared ref).

One clone of the session's built mesh (its publish included) serves every test here;
the domain builds write only into that clone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, TEST_SCALE, BuiltMesh, clone_built, dbt_cli, duckmesh
from domain_helpers import DOMAINS, FIXTURES
from duckmesh.core import builddb

pytestmark = pytest.mark.e2e  # builds domains alone, publishes, installs by git


@pytest.fixture(scope="module")
def mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone_built(built_mesh.root, tmp_path_factory.mktemp("domains") / "duckmesh")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_undeclared_upstream_ref_names_both_domains_and_the_line_to_add(
        mesh: Path, tmp_path: Path) -> None:
    work = clone_built(mesh, tmp_path / "mesh")
    packages = work / "domains/marketing/packages.yml"
    packages.write_text("\n".join(line for line in packages.read_text().splitlines()
                                  if "/customers" not in line) + "\n")
    result = duckmesh(work, "build", "--domain", "marketing", check=False)
    assert result.returncode == 1
    assert ("domain marketing refs products of domain customers "
            "(domains/marketing/models/intermediate/int_campaign_reach.sql) but "
            "domains/marketing/packages.yml does not list it: add "
            "`- local: \"{{ env_var('DUCKMESH_DOMAINS', '..') }}/customers\"` to "
            "domains/marketing/packages.yml and `customers: {+database: published}` under "
            "models: in its dbt_project.yml") in result.stderr
    # the mesh build's governance says the same (policy P03), before any model runs
    report = json.loads(duckmesh(work, "governance", "check", "--json", check=False).stdout)
    assert [(v["policy"], v["domain"], v["node"]) for v in report["violations"]] == [
        ("P03", "marketing", "package.marketing")]
    assert report["violations"][0]["message"] == (
        "domain marketing refs products of domain customers (in int_campaign_reach) but its "
        "packages.yml does not list customers, so it cannot build alone or be installed "
        "elsewhere")


def test_no_publish_yet_says_which_command_makes_one(mesh: Path, tmp_path: Path) -> None:
    work = clone_built(mesh, tmp_path / "mesh", ignore=shutil.ignore_patterns("published"))
    result = duckmesh(work, "build", "--domain", "marketing", check=False)
    assert result.returncode == 1
    assert ("no publish yet at published/: domain marketing reads the products of customers, "
            "sales from the last publish. Make one first: `duckmesh build` (the whole mesh; "
            "it publishes) or `duckmesh ci --domain customers`") in result.stderr
    unknown = duckmesh(work, "build", "--domain", "finance", check=False)
    assert unknown.returncode == 1
    assert ("unknown domain 'finance': the mesh's domains are analytics, customer_service, "
            "customers, marketing, sales; `duckmesh new-domain finance` creates one"
            ) in unknown.stderr


def test_a_state_manifest_from_another_dbt_is_refused(mesh: Path, tmp_path: Path) -> None:
    work = clone_built(mesh, tmp_path / "mesh")
    current = work / "published" / "current"
    snapshot = work / "published" / "snapshots" / os.readlink(current).split("/")[-1]
    manifest = snapshot / "manifest.json"
    data = json.loads(manifest.read_text())
    data["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v9.json"
    data["metadata"]["dbt_version"] = "1.5.0"
    manifest.write_text(json.dumps(data))
    # as that dbt's publish recorded it (a manifest changed after its publish is damage)
    record = json.loads((snapshot / "publish.json").read_text())
    record["files"]["manifest.json"] = sha256(manifest)
    record["file_stats"]["manifest.json"] = [manifest.stat().st_size, 0]
    (snapshot / "publish.json").write_text(json.dumps(record))
    result = duckmesh(work, "build", "--domain", "marketing", check=False)
    assert result.returncode == 1
    assert ("the publish at published/manifest.json was written by dbt 1.5.0 "
            "(https://schemas.getdbt.com/dbt/manifest/v9.json); this dbt writes "
            "https://schemas.getdbt.com/dbt/manifest/v12.json: republish the mesh with this "
            "dbt (`duckmesh build`)") in result.stderr


def test_domain_ci_publishes_only_its_products(mesh: Path) -> None:
    pub = mesh / "published"
    before_id = os.readlink(pub / "current").split("/")[-1]
    before = json.loads((pub / "current" / "publish.json").read_text())["products"]
    others = {r: e for r, e in before.items() if not r.startswith("customers.")}
    ports = {path.relative_to(pub / "current"): sha256(path)
             for path in (pub / "current" / "ports").rglob("*.parquet")
             if path.relative_to(pub / "current" / "ports").parts[0] != "customers"}
    expected = {r: e["rows"] for r, e in before.items()}

    reads, errors, stop = [], [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                con = duckdb.connect(str(pub / "mesh.duckdb"), read_only=True)
                try:
                    seen = {r: con.execute(f"select count(*) from {r}").fetchone()[0]
                            for r in expected}
                finally:
                    con.close()
                reads.append(seen)
            except Exception as error:  # noqa: BLE001 - every failure is a finding
                errors.append(repr(error))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        result = duckmesh(mesh, "ci", "--domain", "customers", "--scale", str(TEST_SCALE))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert reads and all(seen == expected for seen in reads)  # never a partial state
    assert ("1 product version(s) of customers (customers.customers_v1); 9 of other domains "
            "carried over unchanged") in result.stdout

    after_id = os.readlink(pub / "current").split("/")[-1]
    assert after_id != before_id
    after = json.loads((pub / "current" / "publish.json").read_text())["products"]
    assert {r: (e["rows"], e["checksum"]) for r, e in after.items() if r in others} == {
        r: (e["rows"], e["checksum"]) for r, e in others.items()}
    assert after["customers.customers_v1"]["rows"] == before["customers.customers_v1"]["rows"]
    for port, digest in ports.items():  # other domains' Parquet ports: byte-identical
        assert sha256(pub / "current" / port) == digest, port
    # the published manifest still describes every domain (P09's baseline)
    manifest = json.loads((pub / "manifest.json").read_text())
    packages = {n["package_name"] for n in manifest["nodes"].values()
                if n["resource_type"] == "model"}
    assert packages == {"duckmesh", *DOMAINS}


def make_repository(dest: Path, tag: str) -> str:
    """A git repository of the checkout's tracked files with one commit and ``tag``."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / name, dest / name)
    git = ["git", "-c", "user.email=ci@duckmesh.example", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "release"], cwd=dest, check=True)
    subprocess.run([*git, "tag", tag], cwd=dest, check=True)
    return f"file://{dest}"


def test_an_outside_project_installs_sales_by_git_tag(mesh: Path, tmp_path: Path) -> None:
    url = make_repository(tmp_path / "duckmesh-repo", "sales-v2.0.0")
    consumer = tmp_path / "outside"
    (consumer / "models").mkdir(parents=True)
    readme = (REPO / "docs" / "domains.md").read_text()
    # the consumer section of docs/domains.md is the recipe: its files, with this test's paths
    blocks = {}
    for name in ("dbt_project.yml", "selectors.yml", "packages.yml", "profiles.yml"):
        marker = f"# {name} of an outside project"
        start = readme.index(marker)
        blocks[name] = readme[start:readme.index("```", start)]
    (consumer / "dbt_project.yml").write_text(blocks["dbt_project.yml"])
    (consumer / "selectors.yml").write_text(blocks["selectors.yml"])
    (consumer / "packages.yml").write_text(
        blocks["packages.yml"].replace("https://github.com/your-org/duckmesh.git", url))
    published = mesh / "published"
    (consumer / "profiles.yml").write_text(blocks["profiles.yml"])
    (consumer / "models" / "orders_by_status.sql").write_text(
        "select is_cancelled, count(*) as orders, sum(net_amount) as net_amount\n"
        "from {{ ref('sales', 'orders') }}\ngroup by is_cancelled\n")
    (consumer / "models" / "legacy_order_count.sql").write_text(
        "select count(*) as orders from {{ ref('sales', 'orders', v=1) }}\n")
    env = {"DUCKMESH_PUBLISHED": str(published),
           "DUCKMESH_PLATFORM": str(published / "packages" / "duckmesh_platform"),
           "DUCKMESH_DOMAINS": str(published / "packages"),
           "DBT_PROFILES_DIR": str(consumer)}
    deps = dbt_cli(["deps"], cwd=consumer, env={**os.environ, **env})
    assert deps.returncode == 0, deps.stdout[-3000:]
    result = dbt_cli(["build"], cwd=consumer, env={**os.environ, **env})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "ERROR=0" in result.stdout
    assert "OK created sql table model main.orders_by_status" in result.stdout

    con = duckdb.connect(str(consumer / "outside.duckdb"), read_only=True)
    try:
        mine = sorted(con.execute("select * from main.orders_by_status").fetchall())
        legacy = con.execute("select orders from main.legacy_order_count").fetchone()[0]
    finally:
        con.close()
    con = duckdb.connect(str(published / "mesh.duckdb"), read_only=True)
    try:
        expected = sorted(con.execute(
            "select is_cancelled, count(*), sum(net_amount) from sales.orders_v2 "
            "group by is_cancelled").fetchall())
        expected_v1 = con.execute("select count(*) from sales.orders_v1").fetchone()[0]
    finally:
        con.close()
    assert mine == expected and legacy == expected_v1

    missing = consumer / "packages.yml"
    missing.write_text(missing.read_text().replace("sales-v2.0.0", "sales-v9.9.9"))
    shutil.rmtree(consumer / "dbt_packages")
    (consumer / "package-lock.yml").unlink()
    bad = dbt_cli(["deps"], cwd=consumer, env={**os.environ, **env})
    assert bad.returncode != 0 and "sales-v9.9.9" in bad.stdout


def test_a_third_party_package_works_in_a_domain_and_is_not_a_domain(
        mesh: Path, tmp_path: Path) -> None:
    library = tmp_path / "shop_utils"
    shutil.copytree(FIXTURES / "packages" / "shop_utils", library)
    git = ["git", "-c", "user.email=ci@duckmesh.example", "-c", "user.name=ci"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "0.3.1"], ["tag", "v0.3.1"]):
        subprocess.run([*git, *step], cwd=library, check=True)
    work = clone_built(mesh, tmp_path / "mesh")
    shutil.copytree(FIXTURES / "library_domain" / "loyalty", work / "domains" / "loyalty")
    with (work / "packages.yml").open("a") as packages:
        packages.write("  - local: domains/loyalty\n")
    env = {"SHOP_UTILS_GIT": f"file://{library}"}

    result = duckmesh(work, "build", "--scale", str(TEST_SCALE), env=env)
    assert "DuckMesh governance: 0 error(s), 0 warning(s)" in result.stdout
    con = builddb.connect(work / "mesh.duckdb", read_only=True)
    try:
        tiers = con.execute("select tier_id, fee_amount from loyalty.tiers_v1 order by 1"
                            ).fetchall()
    finally:
        con.close()
    assert [(t, str(f)) for t, f in tiers] == [("T1", "0.00"), ("T2", "4.99"), ("T3", "12.50")]
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    library_tests = [r for r in run_results["results"] if ".shop_utils_at_least_" in r["unique_id"]]
    assert len(library_tests) == 2 and {r["status"] for r in library_tests} == {"pass"}

    report = json.loads(duckmesh(work, "governance", "check", "--json", env=env).stdout)
    assert report["violations"] == []
    doctor = duckmesh(work, "doctor", "--verbose", env=env, check=False).stdout
    assert "library shop_utils" in doctor and "library duckmesh_platform" in doctor
    assert "removed" not in doctor and "package shop_utils" not in doctor
    from duckmesh.core.project import Mesh
    from duckmesh.lint.runner import sql_paths

    assert sql_paths(Mesh(work)) == [
        "models", "domains/customers/models", "domains/sales/models",
        "domains/customer_service/models", "domains/marketing/models",
        "domains/loyalty/models"]
    assert [p.name for p in Mesh(work).package_dirs()][0] == "macros"
    assert "macros" not in [p.name for p in Mesh(work).domain_dirs()]
