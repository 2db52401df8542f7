"""Incremental facts: after new source batches (new, late-arriving and updated orders),
the incremental build equals a full rebuild, row by row.

The mesh is copied to a temporary folder, built once from batch 1, then batches 2 and 3
are dropped and built incrementally (two runs); a --full-refresh build of the same
files into another database file is the reference.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from conftest import copy_mesh, dbt_cli
from duckmesh.core import builddb
from duckmesh.sources.generate import (
    NEXT_STATUS,
    batch_counts,
    generate,
    generate_batch,
    row_counts,
)

SCALE = 0.005  # 500 customers, 5,000 orders
INCREMENTAL_MODELS = [
    "sales.int_order_items_enriched",
    "sales.int_orders_totals",
    "sales.orders_v1",
    "sales.orders_v2",
    "sales.order_items_v1",
    "marketing.attribution_v1",
]
DOWNSTREAM = [
    "marketing.campaign_performance_v1",
    "analytics.customer_360_v1",
    "analytics.executive_kpis_v1",
]


def quiet(*_args: object) -> None:
    pass


@dataclass(frozen=True)
class Builds:
    root: Path
    data_dir: Path
    incremental_db: Path
    rebuilt_db: Path
    batch_1_orders: int


def _dbt(root: Path, db: Path, data_dir: Path, *args: str) -> None:
    env = {**os.environ, "DUCKMESH_DB": str(db), "DUCKMESH_DATA": str(data_dir),
           "DUCKMESH_THREADS": "2"}
    result = dbt_cli([*args, "--profiles-dir", "profiles"], cwd=root, env=env)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def _run_sql(root: Path, model_path: str) -> str:
    return (root / "target" / "run" / model_path).read_text().lower()


def _move_build(db: Path, to: Path) -> None:
    """A build's database file and its products file (core/builddb.py), renamed."""
    db.rename(to)
    builddb.products_path(db).rename(builddb.products_path(to))


def _table(con: duckdb.DuckDBPyConnection, databases: tuple[str, ...], relation: str) -> str:
    """Where a relation's rows are: the first of ``databases`` that holds it as a table
    (a product's is its products file; the build database has a view at its address)."""
    schema, name = relation.split(".")
    for database in databases:
        if con.execute("select count(*) from duckdb_tables() where database_name = ? and "
                       "schema_name = ? and table_name = ?", [database, schema, name]
                       ).fetchone()[0]:
            return f"{database}.{relation}"
    raise AssertionError(f"{relation} is no table of {databases}")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    root = copy_mesh(tmp_path_factory.mktemp("incremental") / "duckmesh")
    data_dir = root / "data" / "batches"
    generate(data_dir, scale=SCALE, seed=42, log=quiet)
    # every build writes to build.duckdb: the database path is part of dbt's profile, so
    # one path keeps partial parsing for all four builds (another path parses in full)
    build_db = root / "build.duckdb"
    incremental_db, rebuilt_db = root / "incremental.duckdb", root / "rebuilt.duckdb"
    _dbt(root, build_db, data_dir, "deps")
    _dbt(root, build_db, data_dir, "build")
    for batch in (2, 3):
        generate_batch(data_dir, batch, log=quiet)
        _dbt(root, build_db, data_dir, "build", "--select", "sales", "marketing",
             "duckmesh")
        # the incremental path ran: a merge / an insert, not a rebuild of the table
        assert "merge into" in _run_sql(root, "sales/models/products/orders_v2.sql")
        assert "merge into" in _run_sql(root, "marketing/models/products/attribution_v1.sql")
        assert "insert into" in _run_sql(root, "sales/models/products/order_items_v1.sql")
        assert "create" not in _run_sql(root, "sales/models/products/order_items_v1.sql")
    _move_build(build_db, incremental_db)  # closed by dbt: no write-ahead log left beside it
    _dbt(root, build_db, data_dir, "build", "--full-refresh")
    _move_build(build_db, rebuilt_db)
    return Builds(root, data_dir, incremental_db, rebuilt_db, row_counts(SCALE)["orders"])


@pytest.mark.e2e
@pytest.mark.parametrize("relation", INCREMENTAL_MODELS + DOWNSTREAM)
def test_incremental_equals_full_rebuild(builds: Builds, relation: str) -> None:
    con = builddb.connect(builds.incremental_db, read_only=True)
    try:
        con.execute(f"attach '{builds.rebuilt_db}' as rebuilt (read_only)")
        con.execute(f"attach '{builddb.products_path(builds.rebuilt_db)}' as rebuilt_products "
                    "(read_only)")
        local = _table(con, (builddb.PRODUCTS, "incremental"), relation)
        reference = _table(con, ("rebuilt_products", "rebuilt"), relation)
        rows = con.execute(f"select count(*) from {local}").fetchone()[0]
        only_incremental = con.execute(
            f"select * from {local} except all select * from {reference}").fetchall()
        only_rebuilt = con.execute(
            f"select * from {reference} except all select * from {local}").fetchall()
    finally:
        con.close()
    assert rows > 0
    assert only_incremental == [] and only_rebuilt == []


@pytest.mark.e2e
def test_batches_reached_the_products(builds: Builds) -> None:
    """The comparison above is not vacuous: new, late and updated orders all landed."""
    extra = batch_counts(SCALE, 2)
    con = builddb.connect(builds.incremental_db, read_only=True)
    try:
        orders = f"read_parquet('{builds.data_dir}/sales/orders/*.parquet', filename = true)"
        count = con.execute("select count(*) from sales.orders_v2").fetchone()[0]
        late = con.execute(
            f"select count(*) from sales.orders_v2 where cast(order_id as bigint) > "
            f"{builds.batch_1_orders} and ordered_at < timestamptz '2025-12-31'").fetchone()[0]
        # every order re-sent by batch 3 carries its furthest status in the product
        resent = con.execute(f"""
            select first.order_id, first.status, product.order_status
            from {orders} as first
            inner join {orders} as later
                on first.order_id = later.order_id
                and later.filename like '%orders_0003.parquet'
            inner join sales.orders_v2 as product
                on cast(first.order_id as varchar) = product.order_id
            where first.filename like '%orders_0001.parquet'
        """).fetchall()
    finally:
        con.close()
    new_per_batch = extra["new_orders"] + extra["late_orders"]
    assert count == builds.batch_1_orders + 2 * new_per_batch
    assert late == 2 * extra["late_orders"]
    assert len(resent) >= extra["updated_orders"] // 2
    assert all(status == NEXT_STATUS[before] for _, before, status in resent)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def test_batches_are_deterministic_and_leave_batch_1_alone(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", scale=0.002, seed=7, log=quiet).out_dir
    before = _digest(first)
    generate_batch(first, 2, log=quiet)
    second = generate(tmp_path / "b", scale=0.002, seed=7, log=quiet).out_dir
    generate_batch(second, 2, log=quiet)
    after = _digest(first)
    # batch 1's files stay as they were; the producer manifest adds the batch's files
    assert {k: after[k] for k in before if k != "_manifest.json"} == {
        k: v for k, v in before.items() if k != "_manifest.json"}
    assert after == _digest(second)
    assert "sales/orders/orders_0002.parquet" in after
    with pytest.raises(ValueError, match="--batch must be 2 or more"):
        generate_batch(first, 1, log=quiet)


def test_changed_only_state_falls_back_to_a_full_build(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`duckmesh build --changed-only` selects state:modified+ only while the database
    and the source data are those of the last successful build."""
    from duckmesh.core import fingerprint
    from duckmesh.core.project import Mesh, Settings

    root, data_dir = tmp_path / "mesh", tmp_path / "data"
    (root / "target").mkdir(parents=True)
    data_dir.mkdir()
    (data_dir / "orders_0001.parquet").write_bytes(b"one")
    (root / "target" / "manifest.json").write_text("{}")
    (root / "packages.yml").write_text("packages:\n  - local: domains/sales\n")
    (root / "domains" / "sales" / "models").mkdir(parents=True)  # a domain: it has a group
    (root / "domains" / "sales" / "dbt_project.yml").write_text("name: sales\n")
    (root / "domains" / "sales" / "models" / "_groups.yml").write_text(
        "groups:\n  - name: sales\n")
    monkeypatch.setenv("DUCKMESH_DB", str(root / "mesh.duckdb"))
    mesh = Mesh(root, Settings.from_env())

    assert fingerprint.last_build(mesh, data_dir).selection()[0] == []  # nothing recorded yet
    (root / "mesh.duckdb").write_bytes(b"")
    fingerprint.last_build(mesh, data_dir).save(mesh.manifest_path, {"source_checks": {}})
    args, _ = fingerprint.last_build(mesh, data_dir).selection()
    assert args == ["--select", "state:modified+", "--state", str(root / "target" / "last_build")]
    assert fingerprint.last_build(mesh, data_dir).data_step_overrides({"source_checks"}) == {
        "source_checks": {}}
    assert not fingerprint.deps_stamp(mesh).current  # no `dbt deps` recorded
    (root / "dbt_packages").mkdir()
    (root / "dbt_packages" / "sales").symlink_to(root / "domains" / "sales")
    fingerprint.deps_stamp(mesh).save()  # what a successful `dbt deps` leaves
    assert fingerprint.deps_stamp(mesh).current
    (root / "domains" / "sales" / "packages.yml").write_text("packages: []\n")
    assert not fingerprint.deps_stamp(mesh).current  # a domain's packages changed
    fingerprint.deps_stamp(mesh).save()
    elsewhere = tmp_path / "original" / "sales"  # a copied checkout links the original
    elsewhere.mkdir(parents=True)
    (root / "dbt_packages" / "sales").unlink()
    (root / "dbt_packages" / "sales").symlink_to(elsewhere)
    fingerprint.deps_stamp(mesh).save()
    assert not fingerprint.deps_stamp(mesh).current
    (root / "dbt_packages" / "sales").unlink()
    (root / "dbt_packages" / "sales").symlink_to(root / "domains" / "sales")
    fingerprint.deps_stamp(mesh).save()
    assert fingerprint.deps_stamp(mesh).current
    shutil.rmtree(elsewhere.parent)
    (root / "dbt_packages" / "sales").unlink()  # `dbt clean`
    assert not fingerprint.deps_stamp(mesh).current

    (data_dir / "orders_0002.parquet").write_bytes(b"two")  # a new batch arrived
    assert fingerprint.last_build(mesh, data_dir).selection()[0] == []
    assert fingerprint.last_build(mesh, data_dir).data_step_overrides({"source_checks"}) is None

    fingerprint.last_build(mesh, data_dir).save(mesh.manifest_path, {})
    monkeypatch.setenv("DUCKMESH_DB", str(tmp_path / "other.duckdb"))
    other = Mesh(root, Settings.from_env())  # another database file
    assert fingerprint.last_build(other, data_dir).selection()[0] == []
