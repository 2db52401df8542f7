"""Published data cannot be damaged unnoticed, and damage is never copied forward:
checksums per file and table, publish --verify, verified reuse, rollback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import BuiltMesh, clone_built, duckmesh
from duckmesh.core import builddb
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
    con = builddb.connect(db, read_only=True)
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
    folder = root / "published" / "current"
    packages = [p.relative_to(folder).as_posix() for p in (folder / "packages").rglob("*")
                if p.is_file()]
    assert "packages/sales/models/products/orders_v2.sql" in packages
    assert sorted(files) == sorted(["mesh.duckdb", "manifest.json", *packages,
                                    *(verify.port_file(e) for e in
                                      published["products"].values()),
                                    "consumers/bi_dashboards/mesh.duckdb",
                                    "consumers/data_science/mesh.duckdb"])
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

    published = duckmesh(root, "publish")  # from the build's products file, not the damaged one
    assert "      snapshot database: a copy of mesh.products.duckdb (" in published.stdout
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
    con = builddb.connect(db)
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
        handle.write(b"\xa5" * 65536)  # not zeros: the middle may be a free block of zeros
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
    """A consumer file's views are checked by the port each must read."""
    import duckdb

    from duckmesh.publish import verify

    port, other = tmp_path / "port.parquet", tmp_path / "other.parquet"
    with duckdb.connect() as con:
        for path in (port, other):
            con.execute(f"copy (select 1 as x) to '{path}' (format parquet)")
    database = tmp_path / "consumer.duckdb"
    with builddb.connect(database) as con:
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


# -- verified means verified --------------------------------------------

SUM_NET = "select sum(net_amount)::varchar from sales.orders_v2"


def flip_bytes(path: Path, offset: int, count: int = 16) -> None:
    """Invert ``count`` bytes in place and restore the size and modification time, so
    only the content tells."""
    before = path.stat()
    with path.open("r+b") as handle:
        handle.seek(offset)
        data = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def query_value(root: Path, sql: str, *args: str) -> str:
    return json.loads(duckmesh(root, "query", "--json", *args, sql).stdout).popitem()[1]


def port_sum(port: Path) -> str:
    with duckdb.connect() as con:
        return con.execute("select sum(net_amount)::varchar from read_parquet(?)",
                           [str(port)]).fetchone()[0]


def test_current_pointing_outside_snapshots_is_never_served_and_is_re_pointed(
        root: Path, tmp_path: Path) -> None:
    """A tampered copy of the current snapshot, same id, linked as published/current:
    queries refuse it, --verify says so, the next publish re-points current."""
    snapshot = current(root)
    good = query_value(root, SUM_NET)
    copy = tmp_path / "elsewhere" / snapshot
    shutil.copytree(root / "published" / "snapshots" / snapshot, copy)
    with builddb.connect(copy / "mesh.duckdb") as con:
        con.execute("update sales.orders_v2 set net_amount = 0")
    (root / "published" / "current").unlink()
    (root / "published" / "current").symlink_to(copy)
    problem = f"published/current points at {copy}, outside published/snapshots/"

    refused = duckmesh(root, "query", SUM_NET, check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"duckmesh query: error: {problem}: not served; `duckmesh publish --verify` names "
        "the snapshot to roll back to (`duckmesh publish --rollback`), and the next "
        "`duckmesh build` re-points it\n")
    check = duckmesh(root, "publish", "--verify", check=False)
    assert check.returncode == 1
    assert check.stdout == f"snapshot {snapshot}: DAMAGED\n  {problem}\n"
    assert check.stderr == (f"duckmesh publish: error: damaged snapshot: the last good one is "
                            f"{snapshot} (`duckmesh publish --rollback {snapshot}`)\n")
    assert duckmesh(root, "publish", "--list").stdout.startswith(f"! {problem}: ")

    published = duckmesh(root, "publish")
    assert published.stdout.startswith(
        f"      {problem}: published/current now points at snapshots/{snapshot}, the "
        "newest intact snapshot\n")
    assert os.readlink(root / "published" / "current") != str(copy)
    assert query_value(root, SUM_NET) == good
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {current(root)}: intact\n"


def test_written_table_by_table_a_damaged_snapshot_is_never_copied_forward(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the snapshot database is written table by table (a product held back, or
    products built without a products file), unchanged products would start from the
    previous snapshot's file: a damaged one is not copied, every product is written
    again from the build."""
    from duckmesh.core.project import Mesh
    from duckmesh.publish import publisher

    damaged = current(root)
    relations = sorted(record(root)["products"])
    expected = fingerprints(root / "mesh.duckdb", relations)
    zero_one_mib(root / "published" / "snapshots" / damaged / "mesh.duckdb")
    monkeypatch.setattr(publisher, "_products_file", lambda request, con: "as the test asks")
    lines: list[str] = []
    publisher.publish(Mesh(root), in_build=True, log=lines.append, force=True)
    assert "      snapshot database written table by table (as the test asks)" in lines
    assert ("      the previous snapshot is damaged (mesh.duckdb changed since it was "
            "published (SHA-256 differs)): nothing is copied from it, products are written "
            "again from the build") in lines
    assert current(root) != damaged
    assert fingerprints(root / "published" / "mesh.duckdb", relations) == expected


def test_a_flipped_hard_linked_port_with_its_mtime_restored_is_caught_and_rebuilt(
        root: Path) -> None:
    """Three snapshots share one port's inode: bytes flipped in it are found by SHA-256
    (not by size or time), and the next publish writes the port again, never links it."""
    first = current(root)
    duckmesh(root, "publish")  # the clone's own snapshot (its consumer files read here)
    assert duckmesh(root, "publish", "--force").returncode == 0
    entry = record(root)["products"]["sales.orders_v2"]
    port = root / "published" / "current" / verify.port_file(entry)
    assert port.stat().st_nlink == 3  # one inode in the three kept snapshots
    shared = port.stat().st_ino
    before = port_sum(port)
    flip_bytes(port, port.stat().st_size // 2)
    damaged = f"{verify.port_file(entry)} changed since it was published (SHA-256 differs)"

    check = duckmesh(root, "publish", "--verify", check=False)
    assert check.returncode == 1
    assert check.stdout == f"snapshot {current(root)}: DAMAGED\n  {damaged}\n"
    assert check.stderr == ("duckmesh publish: error: damaged snapshot: no kept snapshot is "
                            "intact: run `duckmesh build`\n")
    assert duckmesh(root, "publish", "--verify", first, check=False).stdout \
        == f"snapshot {first}: DAMAGED\n  {damaged}\n"

    published = duckmesh(root, "publish")
    assert published.stdout.splitlines()[1:3] == [
        f"      {damaged}: written again from its table",
        f"      new snapshot: the current snapshot changed since it was published ({damaged})"]
    fresh = root / "published" / "current" / verify.port_file(entry)
    assert fresh.stat().st_nlink == 1 and fresh.stat().st_ino != shared
    assert port_sum(fresh) == before
    assert port_sum(root / "published" / "sales" / "orders" / "v2" / "orders_v2.parquet") \
        == before  # what a reader of published/ reads
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {current(root)}: intact\n"
    assert duckmesh(root, "publish").stdout.startswith("unchanged: snapshot ")


@pytest.mark.parametrize("path", ["mesh.duckdb", "consumers/data_science/mesh.duckdb"])
def test_a_damaged_file_with_size_and_mtime_restored_is_never_unchanged(
        root: Path, path: str) -> None:
    duckmesh(root, "publish")
    kept = current(root)
    assert duckmesh(root, "publish").stdout.startswith(f"unchanged: snapshot {kept} kept")
    expected = query_value(root, SUM_NET)
    file = root / "published" / "current" / path
    flip_bytes(file, file.stat().st_size // 2)
    published = duckmesh(root, "publish")
    assert (f"      new snapshot: the current snapshot changed since it was published ({path} "
            "changed since it was published (SHA-256 differs))\n") in published.stdout
    assert current(root) != kept
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {current(root)}: intact\n"
    assert query_value(root, SUM_NET) == expected
    consumer = root / "published" / "consumers" / "data_science" / "mesh.duckdb"
    assert query_value(root, SUM_NET, "--db", str(consumer)) == expected


def test_a_broken_publish_json_is_reported_and_current_re_pointed(root: Path) -> None:
    older = current(root)
    duckmesh(root, "publish", "--force")
    broken = current(root)
    (root / "published" / "current" / "publish.json").write_text("{not json")
    problem = (f"published/snapshots/{broken}/publish.json cannot be read (Expecting property "
               "name enclosed in double quotes: line 1 column 2 (char 1))")

    check = duckmesh(root, "publish", "--verify", check=False)
    assert (check.returncode, check.stdout) == (1, f"snapshot {broken}: DAMAGED\n  {problem}\n")
    assert check.stderr == (f"duckmesh publish: error: damaged snapshot: the last good one is "
                            f"{older} (`duckmesh publish --rollback {older}`)\n")
    listed = duckmesh(root, "publish", "--list")
    assert f"* {broken}  DAMAGED: {problem}\n" in listed.stdout
    published = duckmesh(root, "publish")
    assert published.stdout.splitlines()[0] == (
        f"      {problem}: published/current now points at snapshots/{older}, the newest "
        "intact snapshot")
    assert current(root) not in (older, broken)
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {current(root)}: intact\n"


def test_with_no_intact_snapshot_left_publish_says_so_in_one_line(root: Path) -> None:
    snapshot = current(root)
    (root / "published" / "current" / "publish.json").write_text("{not json")
    failed = duckmesh(root, "publish", check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr == (
        f"duckmesh publish: error: published/snapshots/{snapshot}/publish.json cannot be read "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)), and "
        "no kept snapshot is intact (`duckmesh publish --verify` names the damage): restore "
        "the file, or move published/ aside and run `duckmesh build` to publish afresh\n")


@pytest.mark.parametrize(("content", "why"), [
    ("", "size differs"), ('{"nodes": {}}', "size differs")])
def test_a_damaged_published_manifest_is_damage_and_repaired_before_a_build_reads_it(
        root: Path, content: str, why: str) -> None:
    """The manifest is governance P09's baseline: hashed like every file; the build's
    first step re-points current at the newest snapshot whose manifest is intact."""
    from duckmesh.core.project import Mesh
    from duckmesh.publish import publisher

    older = current(root)
    duckmesh(root, "publish", "--force")
    damaged = current(root)
    (root / "published" / "manifest.json").write_text(content)
    check = duckmesh(root, "publish", "--verify", check=False)
    assert (check.returncode, check.stdout) == (
        1, f"snapshot {damaged}: DAMAGED\n  manifest.json changed since it was published "
           f"({why})\n")
    lines: list[str] = []
    assert publisher.check_published(Mesh(root), log=lines.append) == older
    assert lines == [f"      published/snapshots/{damaged}/manifest.json changed since it was "
                     f"published ({why}): published/current now points at snapshots/{older}, "
                     "the newest intact snapshot"]
    baseline = json.loads((root / "published" / "manifest.json").read_text())
    assert "model.customers.customers.v1" in baseline["nodes"]


def test_query_on_a_corrupt_consumer_file_is_one_line(root: Path) -> None:
    path = root / "published" / "current" / "consumers" / "data_science" / "mesh.duckdb"
    target = path.resolve()
    path.write_bytes(b"\0" * path.stat().st_size)
    result = duckmesh(root, "query", "--db", str(path), "select 1", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == (
        f"duckmesh query: error: cannot open {path}: it is not a readable DuckDB database "
        f"(IO Error: The file \"{target}\" exists, but it is not a valid DuckDB database "
        "file!). Fix: give --db a file `duckmesh publish` wrote (published/mesh.duckdb or "
        "published/consumers/<name>/mesh.duckdb), or publish again to rewrite it\n")



def test_a_changed_package_file_is_damage_and_written_again(root: Path) -> None:
    """published/packages/ (what an outside project installs a domain from) is part of
    the snapshot: hashed like every file."""
    duckmesh(root, "publish")  # the clone's own snapshot
    path = "packages/sales/models/products/orders_v2.sql"
    file = root / "published" / "current" / path
    file.write_text(file.read_text() + "-- changed\n")
    check = duckmesh(root, "publish", "--verify", check=False)
    assert (check.returncode, check.stdout) == (
        1, f"snapshot {current(root)}: DAMAGED\n  {path} changed since it was published "
           "(size differs)\n")
    assert "      new snapshot: dbt packages changed\n" in duckmesh(root, "publish").stdout
    assert duckmesh(root, "publish", "--verify").stdout == f"snapshot {current(root)}: intact\n"
    assert not (root / "published" / "current" / path).read_text().endswith("-- changed\n")
