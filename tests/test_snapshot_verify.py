"""Published data cannot be damaged unnoticed, and damage is never copied forward (issue 18,
item 5): checksums per file and table, publish --verify, verified reuse, rollback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import BuiltMesh, clone_built, duckmesh
from duckmesh.publish import verify

pytestmark = pytest.mark.integration


@pytest.fixture()
def root(built_mesh: BuiltMesh, tmp_path: Path) -> Path:
    return clone_built(built_mesh.root, tmp_path / "mesh",
                       ignore=shutil.ignore_patterns("logs", "data"))


def current(root: Path) -> str:
    return os.readlink(root / "published" / "current").split("/")[-1]


def record(root: Path, snapshot: str | None = None) -> dict:
    folder = root / "published" / "snapshots" / (snapshot or current(root))
    return json.loads((folder / "publish.json").read_text())


def fingerprints(db: Path, relations: list[str]) -> dict[str, tuple]:
    """Rows and an md5 over the sorted rows, apart from publish's own checksum."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r: con.execute(f"select count(*), md5(coalesce(string_agg(t::varchar, ',' "
                               f"order by t::varchar), '')) from {r} as t").fetchone()
                for r in relations}
    finally:
        con.close()


def zero_one_mib(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(1024 * 1024)
        handle.write(b"\0" * 1024 * 1024)


def test_every_published_file_and_table_is_recorded_and_verifies(root: Path) -> None:
    published = record(root)
    files = published["files"]
    assert sorted(files) == sorted(["mesh.duckdb", *(verify.port_file(e) for e in
                                                     published["products"].values()),
                                    "consumers/bi_dashboards/mesh.duckdb",
                                    "consumers/data_science/mesh.duckdb"])
    folder = root / "published" / "current"
    assert all(verify.sha256(folder / path) == digest for path, digest in files.items())
    result = duckmesh(root, "publish", "--verify")
    assert result.stdout == f"snapshot {current(root)}: intact\n"


def test_a_zeroed_snapshot_is_reported_and_never_copied_forward(root: Path) -> None:
    damaged = current(root)
    relations = sorted(record(root)["products"])
    expected = fingerprints(root / "mesh.duckdb", relations)  # the build database
    zero_one_mib(root / "published" / "snapshots" / damaged / "mesh.duckdb")

    check = duckmesh(root, "publish", "--verify", check=False)
    assert check.returncode == 1
    assert check.stdout.startswith(f"snapshot {damaged}: DAMAGED\n  mesh.duckdb changed since "
                                   "it was published (SHA-256 differs)\n")
    assert "Corrupt database file" in check.stdout
    assert "damaged snapshot: " in check.stderr

    published = duckmesh(root, "publish")
    assert ("the previous snapshot is damaged (mesh.duckdb changed since it was published "
            "(SHA-256 differs)): nothing is copied from it, products are written again from "
            "the build") in published.stdout
    fresh = current(root)
    assert fresh != damaged
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {fresh}: intact\n"
    assert fingerprints(root / "published" / "mesh.duckdb", relations) == expected

    refused = duckmesh(root, "publish", "--rollback", damaged, check=False)
    assert refused.returncode == 1
    assert (f"snapshot {damaged} is damaged (mesh.duckdb changed since it was published "
            f"(SHA-256 differs)): not rolled back; no other kept snapshot is intact: "
            f"`duckmesh publish --verify` checks the current one, `duckmesh build` publishes "
            f"a new one") in refused.stderr
    assert current(root) == fresh


def test_a_dropped_table_is_rebuilt_from_the_build(root: Path) -> None:
    first = current(root)
    duckmesh(root, "publish", "--force")  # a second good snapshot to roll back to
    second = current(root)
    db = root / "published" / "snapshots" / second / "mesh.duckdb"
    con = duckdb.connect(str(db))
    con.execute("drop table sales.orders_v2 cascade")
    con.close()
    assert "table sales.orders_v2 is missing" in duckmesh(
        root, "publish", "--verify", check=False).stdout
    duckmesh(root, "publish")
    third = current(root)
    expected = fingerprints(root / "mesh.duckdb", ["sales.orders_v2"])
    assert fingerprints(root / "published" / "mesh.duckdb", ["sales.orders_v2"]) == expected
    # rolling back to the damaged one is refused and names the last good one
    refused = duckmesh(root, "publish", "--rollback", second, check=False)
    assert (f"snapshot {second} is damaged (mesh.duckdb changed since it was published "
            f"(SHA-256 differs)): not rolled back; the last good snapshot is {first} "
            f"(`duckmesh publish --rollback {first}`)") in refused.stderr
    assert current(root) == third


def test_a_damaged_port_is_written_again_not_linked(root: Path) -> None:
    published = record(root)
    entry = published["products"]["sales.orders_v2"]
    port = root / "published" / "current" / verify.port_file(entry)
    data = port.read_bytes()
    port.unlink()  # a new inode: the earlier snapshots' hard links keep the good bytes
    port.write_bytes(data[:100] + b"\0" * 100 + data[200:])
    result = duckmesh(root, "publish")
    assert (f"{verify.port_file(entry)} changed since it was published (SHA-256 differs): "
            "written again from its table") in result.stdout
    fresh = root / "published" / "current" / verify.port_file(entry)
    con = duckdb.connect()
    assert con.execute("select count(*) from read_parquet(?)", [str(fresh)]).fetchone()[0] \
        == entry["rows"]
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {current(root)}: intact\n"


def test_verify_names_an_unknown_snapshot(root: Path) -> None:
    result = duckmesh(root, "publish", "--verify", "20990101T000000Z", check=False)
    assert result.returncode == 1
    assert f"unknown snapshot '20990101T000000Z': one of ['{current(root)}']" in result.stderr


def test_a_damaged_consumer_file_is_reported_and_written_again(root: Path) -> None:
    damaged = current(root)
    path = root / "published" / "snapshots" / damaged / "consumers" / "data_science" / "mesh.duckdb"
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\0" * 65536)
    check = duckmesh(root, "publish", "--verify", check=False)
    assert check.returncode == 1
    assert ("  consumers/data_science/mesh.duckdb changed since it was published (SHA-256 "
            "differs)\n") in check.stdout
    duckmesh(root, "publish")
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {current(root)}: intact\n"
    fresh = record(root)
    assert "consumers/data_science/mesh.duckdb" in fresh["files"]
    assert verify.consumer_damage(root / "published" / "current", fresh) == []


def test_a_carried_product_comes_from_the_newest_intact_copy(root: Path) -> None:
    """A product whose build failed keeps its published table; when that table is damaged
    in the current snapshot it is carried from an older kept one, never copied damaged."""
    first = current(root)
    expected = fingerprints(root / "published" / "mesh.duckdb", ["customers.customers_v1"])
    duckmesh(root, "publish", "--force")
    second = current(root)
    con = duckdb.connect(str(root / "published" / "snapshots" / second / "mesh.duckdb"))
    con.execute("drop table customers.customers_v1 cascade")
    con.close()
    results = root / "target" / "run_results.json"
    run = json.loads(results.read_text())
    for result in run["results"]:
        if result["unique_id"] == "model.customers.customers.v1":
            result["status"] = "error"
    results.write_text(json.dumps(run))
    published = duckmesh(root, "publish")
    assert (f"customers.customers_v1: damaged in the previous snapshot, carried from the "
            f"intact copy in {first}") in published.stdout
    assert ("customers.customers_v1 not published (model error): the previous version "
            "stays") in published.stdout
    assert fingerprints(root / "published" / "mesh.duckdb", ["customers.customers_v1"]) \
        == expected
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {current(root)}: intact\n"


def test_view_damage_names_a_missing_view_and_one_that_reads_another_file(
        tmp_path: Path) -> None:
    """A consumer file's views are checked by the port each must read (issue 17)."""
    import duckdb

    from duckmesh.publish import verify

    port, other = tmp_path / "port.parquet", tmp_path / "other.parquet"
    with duckdb.connect() as con:
        for path in (port, other):
            con.execute(f"copy (select 1 as x) to '{path}' (format parquet)")
    database = tmp_path / "consumer.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema sales")
        con.execute(f"create view sales.orders_v1 as select * from read_parquet('{port}')")
        con.execute(f"create view sales.orders_v2 as select * from read_parquet('{other}')")
    assert verify.view_damage(database, {"sales.orders_v1": str(port)}) == []
    assert verify.view_damage(database, {"sales.orders_v2": str(port),
                                         "sales.items_v1": str(port)}) == [
        "view sales.items_v1 is missing", f"view sales.orders_v2 no longer reads {port}"]
    (tmp_path / "bad.duckdb").write_bytes(b"not a database")
    [problem] = verify.view_damage(tmp_path / "bad.duckdb", {"sales.orders_v1": str(port)})
    assert problem.startswith("bad.duckdb cannot be read (")
