"""One build pipeline (build/pipeline.py) and one fingerprint module (core/fingerprint.py):
the mesh, domain, CI and Spark builds are plans of the same `run`, and every "has this
changed?" answer comes from core/fingerprint.py with the digests the platform wrote
before (so caches and generated data stay valid)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from duckmesh.build import domain, pipeline
from duckmesh.build.pipeline import AFTER_BUILD, BEFORE_BUILD, Scope, in_scope
from duckmesh.core import fingerprint
from duckmesh.core.project import Mesh, MeshError, Settings

pytestmark = pytest.mark.unit


def small_mesh(root: Path) -> Mesh:
    """A mesh of one domain (sales) without dbt: what the plans and stamps read."""
    (root / "domains" / "sales" / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: duckmesh\n")
    (root / "packages.yml").write_text("packages:\n  - local: domains/sales\n")
    (root / "domains" / "sales" / "dbt_project.yml").write_text("name: sales\n")
    (root / "domains" / "sales" / "models" / "_groups.yml").write_text(
        "groups:\n  - name: sales\n")
    return Mesh(root, Settings(db=root / "mesh.duckdb"))


def test_each_build_runs_its_steps_of_the_one_list() -> None:
    names = {scope: ([s.name for s in in_scope(BEFORE_BUILD, scope)],
                     [s.name for s in in_scope(AFTER_BUILD, scope)]) for scope in Scope}
    assert names == {
        Scope.MESH: (["published_check", "project_checks", "source_checks"],
                     ["consumer_impact", "publish", "catalog", "observability"]),
        Scope.SPARK: (["published_check", "project_checks", "source_checks"], []),
        Scope.DOMAIN: (["source_checks"], []),
        Scope.CI: (["source_checks"], ["semver", "consumer_impact", "publish"]),
    }
    # the CI's impact check guards its publish, as the mesh's does
    assert [s.name for s in in_scope(AFTER_BUILD, Scope.CI) if s.guards_publish] == [
        "semver", "consumer_impact"]


def test_the_spark_plan_builds_the_mesh_on_its_target_with_its_own_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The dbt command of `scale-out build`, without Spark: its target and artifacts
    folder, --full-refresh after another data set, the record kept beside the warehouse."""
    from duckmesh.scaleout import spark

    mesh = small_mesh(tmp_path)
    options = pipeline.BuildOptions(scale=0.01, seed=7)
    data_dir = mesh.data_dir(0.01)
    (spark.warehouse(mesh)).mkdir(parents=True)
    spark.data_set_record(mesh).write_text(json.dumps({"data_dir": str(tmp_path / "other")}))
    plan = spark.spark_plan(mesh, options)
    calls: list[tuple[list[str], dict[str, str]]] = []

    def invoke(plan: pipeline.Plan, args: list[str], quiet: bool = False,
               data: Path | None = None) -> SimpleNamespace:
        calls.append((args, plan.env(data or plan.ctx.data_dir)))
        return SimpleNamespace(success=True, exception=None)

    monkeypatch.setattr(pipeline, "invoke", invoke)
    assert pipeline.dbt_build(plan).success
    args, env = calls[0]
    assert not (tmp_path / "data" / "current").is_symlink()  # Spark reads the folder itself
    assert args == ["build", "--target", "spark", "--target-path",
                    str(tmp_path / "target" / "spark" / "dbt"), "--full-refresh"]
    assert env["DUCKMESH_SPARK_DIR"] == str(tmp_path / "target" / "spark")
    assert env["DUCKMESH_DATA"] == str(data_dir)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        "[3/4] dbt build --target spark -> target/spark/warehouse",
        "      another data set than the last Spark build (scale, seed or DUCKMESH_DATA): "
        "--full-refresh, so incremental products are rebuilt"]
    assert not plan.ctx.results_written  # Spark's artifacts are not the mesh's
    assert not (tmp_path / "target" / "manifest.json").exists()

    data_dir.mkdir(parents=True)
    plan.last_build.save(None, {}, 0.01)  # what run() records after the build
    assert json.loads(spark.data_set_record(mesh).read_text())["data_dir"] == str(
        data_dir.resolve())
    assert not spark.spark_plan(mesh, options).last_build.switched
    # the DuckDB build's record is another file: it never says the Spark build switched
    assert not (tmp_path / "target" / "last_build" / "build.json").exists()


def test_the_mesh_build_tells_dbt_one_data_folder_whatever_the_data_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """dbt keeps the value of DUCKMESH_DATA in its parse state: a new value re-parses
    every file that reads it. The mesh build points data/current at its data set first
    and tells dbt that link, so builds of two data sets give dbt the same value; the
    link names the data set dbt reads, the cleaned copy when rows were quarantined."""
    mesh = small_mesh(tmp_path)
    told: list[tuple[str, str]] = []

    def invoke(plan: pipeline.Plan, args: list[str], quiet: bool = False,
               data: Path | None = None) -> SimpleNamespace:
        link = tmp_path / "data" / "current"
        told.append((plan.env(data or plan.ctx.data_dir)["DUCKMESH_DATA"],
                     os.readlink(link) if link.is_symlink() else ""))
        return SimpleNamespace(success=True, exception=None)

    monkeypatch.setattr(pipeline, "invoke", invoke)
    monkeypatch.setattr(pipeline.BuildContext, "dbt_ran", lambda self: None)
    for scale in (0.01, 0.02):
        pipeline.dbt_build(pipeline.mesh_plan(mesh, pipeline.BuildOptions(scale=scale)))
    plan = pipeline.mesh_plan(mesh, pipeline.BuildOptions(scale=0.02))
    plan.ctx.validated_data = tmp_path / "target" / "validated"
    pipeline.dbt_build(plan)
    link = str(tmp_path / "data" / "current")
    assert told == [(link, "scale_0.01"), (link, "scale_0.02"),
                    (link, os.path.join("..", "target", "validated"))]
    # DUCKMESH_DATA naming the link itself leaves it as it is (no link to itself)
    assert pipeline.link_current_data(mesh, tmp_path / "data" / "current")
    assert os.readlink(tmp_path / "data" / "current") == os.path.join(
        "..", "target", "validated")
    # a real folder where the link goes is left alone: dbt reads the data set itself
    (tmp_path / "data" / "current").unlink()
    (tmp_path / "data" / "current" / "kept").mkdir(parents=True)
    plan = pipeline.mesh_plan(mesh, pipeline.BuildOptions(scale=0.01))
    told.clear()
    pipeline.dbt_build(plan)
    assert told[0][0] == str(plan.ctx.data_dir)
    assert (tmp_path / "data" / "current" / "kept").is_dir()
    note = [line for line in capsys.readouterr().out.splitlines() if "could not" in line]
    assert len(note) == 1
    assert note[0].startswith("      note: could not link data/current to the build's data "
                              "([Errno 21] Is a directory: ")
    assert note[0].endswith("); plain dbt needs DUCKMESH_DATA set")


def test_a_failed_domain_or_spark_build_stops_with_one_line(tmp_path: Path) -> None:
    from duckmesh.scaleout import spark

    plan = spark.spark_plan(small_mesh(tmp_path), pipeline.BuildOptions())
    failed = SimpleNamespace(success=False, exception=None)
    with pytest.raises(MeshError, match=r"^dbt build --target spark failed \(see the dbt output "
                                        r"above and logs/dbt.log\)$"):
        pipeline.stop(plan, failed)


def test_digests_are_those_the_platform_wrote_before() -> None:
    """Lineage's cache keys and the generator's data-set stamp keep their values: a
    cache or a data set written before the move is still reused."""
    query = [3, "select 1 as a", {"t": {"a": "int"}}, False]
    assert fingerprint.json_digest(query) == hashlib.sha256(
        json.dumps(query, sort_keys=True).encode()).hexdigest()
    source = Path(fingerprint.__file__)
    assert fingerprint.source_fingerprint(source, 0.1, 42) == hashlib.sha256(
        source.read_bytes() + b"0.1:42").hexdigest()[:16]


def test_a_files_fingerprint_is_its_size_time_and_content(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(b"id\n1\n")
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    assert fingerprint.file_fingerprint(path) == [
        5, 1_700_000_000_000_000_000, hashlib.sha256(b"id\n1\n").hexdigest()]
    before = fingerprint.tree_fingerprint(tmp_path)
    path.write_bytes(b"id\n2\n")  # same size, another time
    assert fingerprint.tree_fingerprint(tmp_path) != before


def test_a_moved_checkout_keeps_its_record_of_the_data_set(tmp_path: Path) -> None:
    """The record names the database and data relative to the mesh root too: a copied
    checkout is not a switched data set, another scale in it is."""
    first = small_mesh(tmp_path / "first")
    data = first.data_dir(0.1)
    data.mkdir(parents=True)
    first.db_path.write_bytes(b"")
    fingerprint.last_build(first, data).save(None, {}, 0.1)
    shutil.copytree(tmp_path / "first", tmp_path / "second", symlinks=True)
    second = Mesh(tmp_path / "second", Settings(db=tmp_path / "second" / "mesh.duckdb"))
    assert not fingerprint.last_build(second, second.data_dir(0.1)).switched
    assert fingerprint.last_build(second, second.data_dir(0.01)).switched
    assert fingerprint.last_scale(second) == 0.1
    assert fingerprint.resolve_scale(second, None) == 0.1


def test_a_domains_deps_stamp_is_its_own_project(tmp_path: Path) -> None:
    """`dbt deps` of one domain: its packages.yml and its upstream domains', its own
    dbt_packages/, recorded in its workspace."""
    mesh = small_mesh(tmp_path)
    customers = tmp_path / "domains" / "customers"
    customers.mkdir(parents=True)
    sales = tmp_path / "domains" / "sales"
    (sales / "packages.yml").write_text("packages:\n  - local: ../customers\n")
    ws = domain.resolve(mesh, "sales")
    stamp = fingerprint.deps_stamp(ws, sales, [customers])
    assert not stamp.current
    (sales / "dbt_packages").mkdir()
    (sales / "dbt_packages" / "customers").symlink_to(customers)
    stamp.save()
    assert stamp.current
    assert stamp.record == tmp_path / "target" / "domains" / "sales" / "target" / "last_build" / \
        "deps.json"
    assert not fingerprint.deps_stamp(mesh).current  # the mesh's own stamp is apart
    (customers / "packages.yml").write_text("packages: []\n")  # an upstream's packages
    assert not stamp.current
