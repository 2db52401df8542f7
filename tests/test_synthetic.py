"""The synthetic mesh generator: shape, determinism, and that the mesh really builds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from benchmarks import synthetic
from conftest import dbt_cli
from duckmesh.core import builddb


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _dbt(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DUCKMESH_DB": str(root / "mesh.duckdb"),
           "DUCKMESH_PLATFORM": "macros", "DUCKMESH_DOMAINS": "domains"}  # as duckmesh build
    result = dbt_cli([*args, "--profiles-dir", "profiles"], cwd=root, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def test_plan_splits_models_exactly() -> None:
    for n_models, n_domains in [(100, 10), (37, 4), (1000, 10), (12, 10)]:
        domains, root_products = synthetic.plan_mesh(n_models, n_domains)
        assert sum(d.model_count for d in domains) + len(root_products) == n_models
        assert all(d.staging and d.products for d in domains)


def test_same_arguments_same_bytes(tmp_path: Path) -> None:
    first = synthetic.write_synthetic_mesh(tmp_path / "a", 30, 3)
    second = synthetic.write_synthetic_mesh(tmp_path / "b", 30, 3)
    assert _files(first) == _files(second)


@pytest.fixture(scope="module")
def built_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = synthetic.write_synthetic_mesh(tmp_path_factory.mktemp("syn") / "mesh", 30, 3)
    _dbt(root, "deps")
    _dbt(root, "build")
    return root


@pytest.mark.e2e
def test_synthetic_mesh_builds_with_cross_domain_products(built_synthetic: Path) -> None:
    manifest = json.loads((built_synthetic / "target" / "manifest.json").read_text())
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    assert len(models) == 30

    products = [n for n in models.values() if n["access"] == "public"]
    domains, root_products = synthetic.plan_mesh(30, 3)
    assert len(products) == sum(len(d.products) for d in domains) + len(root_products)
    for node in products:
        assert node["config"]["contract"]["enforced"] is True
        assert node["version"] == 1 and node["latest_version"] == 1
        assert node["constraints"][0]["type"] == "primary_key"
        assert set(node["config"]["meta"]) >= {"classification", "lifecycle", "slo"}
        assert all(c["data_type"] and c["description"] for c in node["columns"].values())
    for node in models.values():
        if node["access"] != "public":
            assert node["name"].startswith(("stg_", "int_"))

    cross = {(n["package_name"], models[dep]["package_name"])
             for n in products for dep in n["depends_on"]["nodes"]
             if dep in models and models[dep]["package_name"] != n["package_name"]}
    assert ("domain_02", "domain_01") in cross
    assert ("domain_03", "domain_02") in cross

    groups = manifest["groups"].values()
    assert all(g["owner"]["email"].endswith("@duckmesh.example") for g in groups)

    con = builddb.connect(built_synthetic / "mesh.duckdb", read_only=True)
    try:
        for node in products:
            if node["package_name"] == "duckmesh":
                continue
            count = con.execute(
                f'select count(*) from "{node["schema"]}"."{node["alias"]}"').fetchone()[0]
            assert count == synthetic.ROWS
        overview = con.execute(
            "select count(*), sum(record_count) from analytics.mesh_overview").fetchone()
    finally:
        con.close()
    assert overview == (3, 3 * synthetic.ROWS)
