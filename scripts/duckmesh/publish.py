"""Atomic publishing of the public products for consumers.

Layout under ``published/`` (every path a consumer uses goes through ``current``):

    published/current              symlink -> snapshots/<id>: the one commit point
    published/mesh.duckdb          -> current/mesh.duckdb   every published product
    published/<domain>/            -> current/ports/<domain>/<product>/v<N>/<product>_v<N>.parquet
    published/consumers/           -> current/consumers/<consumer>/mesh.duckdb (what it may read)
    published/manifest.json        -> current/manifest.json (dbt manifest of that publish)
    published/snapshots/<id>/      the last K snapshots, never modified once committed

A publish writes a whole snapshot into ``snapshots/.tmp-<id>``, renames it to
``snapshots/<id>`` and then swaps ``current`` with one rename, so readers see the old
snapshot or the new one, never a mix. Readers that opened the old file keep it (the file
is never rewritten). A product whose model or tests failed keeps its previous published
table. A crash anywhere leaves ``current`` untouched; the next publish removes the leftovers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from . import access, dbt
from .products import ProductVersion, public_products
from .project import Mesh, MeshError, find_mesh

DEFAULT_KEEP = 3
OK_TEST = {"pass", "warn"}


@dataclass
class Plan:
    """What a publish does with each product version (keys: relation)."""
    build: list[ProductVersion] = field(default_factory=list)
    carry: dict[str, str] = field(default_factory=dict)  # relation -> why
    drop: dict[str, str] = field(default_factory=dict)  # relation -> why (no previous)


@dataclass(frozen=True)
class Published:
    snapshot: str
    built: list[str]
    carried: dict[str, str]
    dropped: dict[str, str]
    consumers: list[str]


# -- paths -------------------------------------------------------------------------------

def published_dir(mesh: Mesh) -> Path:
    return mesh.root / "published"


def snapshots(pub: Path) -> list[str]:
    folder = pub / "snapshots"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "publish.json").exists())


def current_snapshot(pub: Path) -> str | None:
    link = pub / "current"
    if not link.is_symlink():
        return None
    name = Path(os.readlink(link)).name
    return name if (pub / "snapshots" / name / "publish.json").exists() else None


def _link(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` with one atomic rename."""
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.exists() and not link.is_symlink():
        raise MeshError(f"{link} is a real file or folder where DuckMesh keeps a link: move it "
                        "out of published/ and publish again")
    temporary = link.with_name(f".{link.name}.tmp")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(target, temporary)
    os.replace(temporary, link)


def recover(pub: Path) -> list[str]:
    """Remove what an interrupted publish left behind; return what was removed."""
    removed = []
    folder = pub / "snapshots"
    if folder.is_dir():
        for leftover in folder.iterdir():
            if leftover.name.startswith(".tmp-"):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(leftover.name)
    if pub.is_dir():
        for leftover in pub.glob(".*.tmp"):
            leftover.unlink()
            removed.append(leftover.name)
    return removed


# -- deciding what to publish ------------------------------------------------------------

def plan(manifest: dict, run_results: dict | None, previous: set[str]) -> Plan:
    """Products whose model and every attached test passed in the last build are built;
    the others keep the previously published table, or are left out when there is none."""
    results = {r["unique_id"]: r for r in (run_results or {}).get("results", [])}
    failed_tests: dict[str, list[str]] = {}
    for node in [*manifest["nodes"].values(), *manifest.get("unit_tests", {}).values()]:
        parent = node.get("attached_node") or (
            node["depends_on"]["nodes"][0] if node["resource_type"] == "unit_test"
            and node.get("depends_on", {}).get("nodes") else None)
        result = results.get(node["unique_id"])
        if parent and result and result["status"] not in OK_TEST:
            failed_tests.setdefault(parent, []).append(f"{node['name']} {result['status']}")
    decided = Plan()
    for product in public_products(manifest):
        result = results.get(product.unique_id)
        if result is None:
            why = "not built by the last dbt build"
        elif result["status"] != "success":
            why = f"model {result['status']}"
        elif product.unique_id in failed_tests:
            why = "tests failed: " + ", ".join(sorted(failed_tests[product.unique_id]))
        else:
            decided.build.append(product)
            continue
        if product.relation in previous:
            decided.carry[product.relation] = why
        else:
            decided.drop[product.relation] = why
    return decided


def _load_artifacts(mesh: Mesh) -> tuple[dict, dict]:
    manifest = dbt.load_manifest(mesh)
    run_results = dbt.load_run_results(mesh)
    if run_results is None:
        raise MeshError(f"{mesh.target_dir / 'run_results.json'} not found: run `duckmesh build`")
    same = (run_results.get("metadata", {}).get("invocation_id")
            == manifest.get("metadata", {}).get("invocation_id"))
    which = run_results.get("args", {}).get("which")
    if not same or which != "build":
        raise MeshError("target/manifest.json and target/run_results.json are not from the same "
                        "finished `dbt build` (interrupted, or another dbt command ran since): "
                        "run `duckmesh build`, which publishes when it ends")
    return manifest, run_results


# -- writing a snapshot ------------------------------------------------------------------

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_path(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def _port(root: Path, product: ProductVersion) -> Path:
    return (root / "ports" / product.domain / product.name / f"v{product.version}"
            / f"{product.relation_name}.parquet")


def _connect_mesh(mesh: Mesh, in_build: bool) -> duckdb.DuckDBPyConnection:
    if not mesh.db_path.exists():
        raise MeshError(f"{mesh.db_path} not found: run `duckmesh build` first")
    if in_build:
        # the build process: the same configuration as dbt-duckdb's connection
        return duckdb.connect(str(mesh.db_path))
    con = duckdb.connect()  # standalone: the mesh read-only, the snapshot writable
    try:
        con.execute(f"attach {_sql_path(mesh.db_path)} as mesh_source (read_only)")
    except duckdb.IOException as error:
        con.close()
        raise MeshError(f"cannot read {mesh.db_path} ({error}): a build is running; it "
                        "publishes when it ends") from error
    con.execute("use mesh_source")
    return con


def publish(mesh: Mesh, consumers: list[str] | None = None, keep: int = DEFAULT_KEEP,
            in_build: bool = False, log=print) -> Published:
    if keep < 1:
        raise MeshError(f"--keep must be 1 or more, got {keep}")
    manifest, run_results = _load_artifacts(mesh)
    access.check_refs(manifest)
    groups = access.consumer_groups(mesh.root)
    wanted = sorted(set(groups) | {access.check_name("consumer", c) for c in consumers or []})
    known = access.known_consumers(manifest, groups)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise MeshError(f"unknown consumer(s) {unknown}: use a domain ({sorted(known - set(groups))}) "
                        "or declare it under vars.duckmesh_consumers in dbt_project.yml")
    pub = published_dir(mesh)
    (pub / "snapshots").mkdir(parents=True, exist_ok=True)
    for name in recover(pub):
        log(f"      removed {name}, left by an interrupted publish")
    previous_id = current_snapshot(pub)
    previous_root = pub / "snapshots" / previous_id if previous_id else None
    previous_products = _read_record(previous_root)["products"] if previous_root else {}
    decided = plan(manifest, run_results, set(previous_products))

    snapshot = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    work = pub / "snapshots" / f".tmp-{snapshot}"
    work.mkdir()
    products = {p.relation: p for p in public_products(manifest)}
    record: dict = {"snapshot": snapshot, "previous": previous_id,
                    "invocation_id": manifest["metadata"]["invocation_id"],
                    "published_at": datetime.now(timezone.utc).isoformat(), "products": {},
                    "consumers": {}}
    try:
        record["products"] = _write_products(mesh, work, decided, products, previous_root,
                                             previous_products, in_build, snapshot)
        policies = access.policies(manifest)
        previous_tables = (_read_record(previous_root).get("consumer_tables") or {}
                           if previous_root else {})
        record["consumer_tables"] = {}
        for consumer in wanted:
            tables = _write_consumer(work, consumer, snapshot, record["products"], policies,
                                     groups, previous_root, previous_tables.get(consumer))
            record["consumers"][consumer] = list(tables)
            record["consumer_tables"][consumer] = tables
        shutil.copyfile(mesh.manifest_path, work / "manifest.json")
        _write_packages(mesh, work / "packages")
        (work / "publish.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    except (duckdb.Error, OSError) as error:
        shutil.rmtree(work, ignore_errors=True)
        kept = f"snapshot {previous_id} stays current" if previous_id else "nothing was published"
        raise MeshError(f"publish failed while writing snapshot {snapshot} ({error}): {kept}; "
                        "fix the cause (disk space?) and run `duckmesh publish`") from error

    final = pub / "snapshots" / snapshot
    os.rename(work, final)
    _stable_links(pub, {p.domain for p in products.values()})
    _link(f"snapshots/{snapshot}", pub / "current")  # the commit point
    _prune(pub, keep)
    for relation, why in sorted(decided.carry.items()):
        log(f"      {relation} not published ({why}): the previous version stays")
    for relation, why in sorted(decided.drop.items()):
        log(f"      {relation} not published ({why}) and never published before")
    return Published(snapshot, [p.relation for p in decided.build], decided.carry,
                     decided.drop, wanted)


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[list[str]]:
    return [[c, t] for c, t, *_ in con.execute(f"describe {source}").fetchall()]


def _reusable_base(previous_root: Path | None, name: Path) -> Path | None:
    """A previous snapshot's database that a new one may start from (a copy of it):
    committed, checkpointed (no WAL) and not mostly free space."""
    if previous_root is None:
        return None
    path = previous_root / name
    if not path.is_file() or path.with_name(path.name + ".wal").exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        total, free = con.execute("select total_blocks, free_blocks from pragma_database_size() "
                                  "where database_name = current_database()").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return path if total and free * 2 <= total else None


def _write_products(mesh: Mesh, work: Path, decided: Plan, products: dict[str, ProductVersion],
                    previous_root: Path | None, previous: dict, in_build: bool,
                    snapshot: str) -> dict:
    """Write the snapshot database and the Parquet ports; return the products' entries.

    A product's rows and checksum are computed once, from the build's table. A built
    product whose rows, checksum and columns equal the previous snapshot's reuses that
    snapshot's table (the new database starts as a copy of the previous one) and links its
    Parquet port; the others are copied from the build and their port is written from the
    snapshot copy. Carried products keep the previous snapshot's table and port."""
    con = _connect_mesh(mesh, in_build)
    try:
        measured = {}
        for product in decided.build:
            source = f"{_q(product.schema)}.{_q(product.relation_name)}"
            rows, checksum = _checksum(con, product.schema, product.relation_name)
            measured[product.relation] = (rows, checksum, _columns(con, source))
        unchanged = {r for r, (rows, checksum, columns) in measured.items()
                     if r in previous and previous[r].get("rows") == rows
                     and previous[r].get("checksum") == checksum
                     and previous[r].get("columns") == columns
                     and _port(previous_root, products[r]).is_file()}
        keep = unchanged | set(decided.carry)
        base = _reusable_base(previous_root, Path("mesh.duckdb")) if keep else None
        target = work / "mesh.duckdb"
        if base is not None:
            shutil.copyfile(base, target)
        else:
            keep = set()
        con.execute(f"attach {_sql_path(target)} as snap")
        if decided.carry and base is None:
            con.execute(f"attach {_sql_path(previous_root / 'mesh.duckdb')} as prev (read_only)")
        try:
            if base is not None:
                _clear(con, "snap", keep)
            for product in decided.build:
                if product.relation not in keep:
                    _copy_table(con, None, product, "snap")
                port = _port(work, product)
                port.parent.mkdir(parents=True, exist_ok=True)
                if product.relation in unchanged:
                    _link_file(_port(previous_root, product), port)
                else:
                    con.execute(f"copy snap.{_q(product.schema)}.{_q(product.relation_name)} "
                                f"to {_sql_path(port)} (format parquet, compression zstd)")
            for relation in decided.carry:
                product = products[relation]
                if base is None:
                    _copy_table(con, "prev", product, "snap")
                port = _port(work, product)
                port.parent.mkdir(parents=True, exist_ok=True)
                _link_file(_port(previous_root, product), port)
            entries, rows = {}, []
            present = [*decided.build, *(products[r] for r in decided.carry)]
            for product in sorted(present, key=lambda p: p.relation):
                relation = product.relation
                carried = relation in decided.carry
                if carried:
                    old = previous[relation]
                    count, checksum = old["rows"], old["checksum"]
                    columns = old.get("columns") or _columns(
                        con, f"snap.{_q(product.schema)}.{_q(product.relation_name)}")
                else:
                    count, checksum, columns = measured[relation]
                origin = f"carried from {previous[relation]['origin_snapshot']}" if carried \
                    else "built"
                entries[relation] = {
                    "domain": product.domain, "product": product.name,
                    "version": product.version, "rows": count, "checksum": checksum,
                    "columns": columns, "latest": product.is_latest,
                    "unique_id": product.unique_id,
                    "reused": relation in keep and not carried,
                    "origin_snapshot": previous[relation]["origin_snapshot"] if carried
                    else snapshot}
                rows.append([relation, product.domain, product.name, product.version,
                             count, checksum, origin])
        finally:
            con.execute("detach snap")
            if decided.carry and base is None:
                con.execute("detach prev")
    finally:
        con.close()
    con = duckdb.connect(str(target))
    try:
        _latest_views(con, present)
        _metadata(con, snapshot, rows)
        con.execute("checkpoint")
    finally:
        con.close()
    return entries


def _link_file(source: Path, target: Path) -> None:
    """Snapshot files are never changed once committed, so a new snapshot may share them."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _clear(con: duckdb.DuckDBPyConnection, database: str, keep: set[str]) -> None:
    """Drop from a copied snapshot database every view, the metadata and each table
    whose relation is not in ``keep``."""
    objects = con.execute(
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_catalog = ?", [database]).fetchall()
    for schema, name, kind in objects:
        if kind == "VIEW":
            con.execute(f"drop view {_q(database)}.{_q(schema)}.{_q(name)}")
    for schema, name, kind in objects:
        if kind != "VIEW" and (schema == "_duckmesh" or f"{schema}.{name}" not in keep):
            con.execute(f"drop table {_q(database)}.{_q(schema)}.{_q(name)}")
    con.execute(f"drop schema if exists {_q(database)}._duckmesh")
    used = {s for s, n, k in objects if k != "VIEW" and f"{s}.{n}" in keep}
    for (schema,) in con.execute("select schema_name from information_schema.schemata "
                                 "where catalog_name = ?", [database]).fetchall():
        if schema not in used and schema not in ("main", "information_schema", "pg_catalog",
                                                 "_duckmesh"):
            con.execute(f"drop schema if exists {_q(database)}.{_q(schema)}")


def _copy_table(con: duckdb.DuckDBPyConnection, source_db: str | None,
                product: ProductVersion, target_db: str) -> None:
    schema, name = _q(product.schema), _q(product.relation_name)
    source = f"{_q(source_db)}.{schema}.{name}" if source_db else f"{schema}.{name}"
    con.execute(f"create schema if not exists {target_db}.{schema}")
    con.execute(f"create table {target_db}.{schema}.{name} as select * from {source}")


def _checksum(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> tuple[int, str]:
    rows, checksum = con.execute(
        f"select count(*), coalesce(sum(hash(t)), 0)::varchar from {_q(schema)}.{_q(name)} as t"
    ).fetchone()
    return int(rows), checksum


def _metadata(con: duckdb.DuckDBPyConnection, snapshot: str, rows: list[list]) -> None:
    con.execute("create schema _duckmesh")
    con.execute("create table _duckmesh.snapshot as select ? as snapshot_id, "
                "current_timestamp as published_at", [snapshot])
    con.execute("create table _duckmesh.products (relation varchar, domain varchar, "
                "product varchar, version integer, row_count bigint, checksum varchar, "
                "origin varchar)")
    if rows:
        con.executemany("insert into _duckmesh.products values (?, ?, ?, ?, ?, ?, ?)", rows)


def _latest_views(con: duckdb.DuckDBPyConnection, products: list[ProductVersion]) -> None:
    for product in products:
        if product.is_latest:
            con.execute(f"create view {_q(product.schema)}.{_q(product.name)} as select * from "
                        f"{_q(product.schema)}.{_q(product.relation_name)}")


def _write_consumer(work: Path, consumer: str, snapshot: str, entries: dict,
                    policies: dict[str, access.Policy],
                    groups: dict[str, tuple[str, ...]],
                    previous_root: Path | None = None,
                    previous_tables: dict | None = None) -> dict:
    """<consumer>/mesh.duckdb: the products ``consumer`` may read, masked; return
    relation -> {select, rows, checksum}. A table whose product checksum and select list
    equal the previous snapshot's is kept from a copy of that snapshot's file."""
    # <consumer>/mesh.duckdb: a file named after a domain would make its catalog name
    # clash with that domain's schema
    folder = work / "consumers" / consumer
    folder.mkdir(parents=True)
    path = folder / "mesh.duckdb"
    wanted = {}
    for relation, entry in sorted(entries.items()):
        policy = policies.get(entry["unique_id"])
        if policy is None or not access.may_read(policy, consumer, groups):
            continue
        columns = [tuple(c) for c in entry["columns"]]
        wanted[relation] = (policy, access.select_list(policy, consumer, groups, columns),
                            columns)
    previous_tables = previous_tables or {}
    keep = {r for r, (_, select, _) in wanted.items()
            if r in previous_tables and previous_tables[r].get("select") == select
            and previous_tables[r].get("source_checksum") == entries[r]["checksum"]
            and previous_tables[r].get("source_rows") == entries[r]["rows"]}
    # A dropped table's pages stay in the file as free blocks: start from the previous file
    # only when this consumer may still read everything it held, with the same masking, so
    # a copy never carries data the consumer may no longer read.
    same_access = all(r in wanted and wanted[r][1] == t.get("select")
                      for r, t in previous_tables.items())
    base = _reusable_base(previous_root, Path("consumers") / consumer / "mesh.duckdb") \
        if keep and same_access else None
    if base is not None:
        shutil.copyfile(base, path)
    else:
        keep = set()
    con = duckdb.connect(str(path))
    tables = {}
    try:
        if base is not None:
            _clear(con, con.execute("select current_database()").fetchone()[0], keep)
        con.execute(f"attach {_sql_path(work / 'mesh.duckdb')} as src (read_only)")
        rows = []
        for relation, (policy, select, columns) in wanted.items():
            entry = entries[relation]
            schema, name = relation.split(".", 1)
            if relation in keep:
                count, checksum = (previous_tables[relation]["rows"],
                                   previous_tables[relation]["checksum"])
            else:
                con.execute(f"create schema if not exists {_q(schema)}")
                con.execute(f"create table {_q(schema)}.{_q(name)} as select {select} "
                            f"from src.{_q(schema)}.{_q(name)}")
                if select == ", ".join(_q(c) for c, _ in columns):
                    count, checksum = entry["rows"], entry["checksum"]  # the same rows
                else:
                    count, checksum = _checksum(con, schema, name)
            if entry["latest"]:
                con.execute(f"create view {_q(schema)}.{_q(entry['product'])} as "
                            f"select * from {_q(schema)}.{_q(name)}")
            tables[relation] = {"select": select, "rows": count, "checksum": checksum,
                                "source_rows": entry["rows"],
                                "source_checksum": entry["checksum"]}
            rows.append([relation, entry["domain"], entry["product"], entry["version"],
                         count, checksum, f"for {consumer}"])
        con.execute("detach src")
        _metadata(con, snapshot, rows)
        con.execute("checkpoint")
    finally:
        con.close()
    return tables


def _read_record(root: Path) -> dict:
    return json.loads((root / "publish.json").read_text())


# the files a dbt package needs to parse (README "Consumers": an outside project points
# DUCKMESH_PLATFORM and DUCKMESH_DOMAINS at published/packages/)
PACKAGE_FILES = ("dbt_project.yml", "packages.yml", "selectors.yml")
PACKAGE_FOLDERS = ("models", "macros", "seeds", "snapshots", "analyses", "data-tests",
                   "governance", "portability", "privacy", "products")


def _write_packages(mesh: Mesh, out: Path) -> None:
    """The dbt packages the published products were built with: the platform package
    (packages/duckmesh_platform) and every domain (packages/<domain>), so a project that
    installs a domain by git can resolve that domain's own dependencies locally."""
    sources = {"duckmesh_platform": mesh.root / "macros"}
    for folder in Mesh(mesh.root).domain_dirs():
        sources[folder.name] = folder
    for name, folder in sources.items():
        if not (folder / "dbt_project.yml").is_file():
            continue
        target = out / name
        target.mkdir(parents=True)
        for file in PACKAGE_FILES:
            if (folder / file).is_file():
                shutil.copyfile(folder / file, target / file)
        for sub in PACKAGE_FOLDERS:
            if (folder / sub).is_dir():
                shutil.copytree(folder / sub, target / sub)


def _stable_links(pub: Path, domains: set[str]) -> None:
    _link("current/mesh.duckdb", pub / "mesh.duckdb")
    _link("current/packages", pub / "packages")
    _link("current/manifest.json", pub / "manifest.json")
    _link("current/consumers", pub / "consumers")
    for domain in sorted(domains):
        _link(f"current/ports/{access.check_name('domain', domain)}", pub / domain)


def _prune(pub: Path, keep: int) -> list[str]:
    current = current_snapshot(pub)
    names = snapshots(pub)
    doomed = [n for n in names[:-keep] if n != current] if len(names) > keep else []
    for name in doomed:
        shutil.rmtree(pub / "snapshots" / name, ignore_errors=True)
    return doomed


def rollback(mesh: Mesh, target: str | None = None) -> str:
    pub = published_dir(mesh)
    recover(pub)
    names = snapshots(pub)
    current = current_snapshot(pub)
    if target is None:
        older = [n for n in names if current is None or n < current]
        if not older:
            raise MeshError(f"no snapshot older than {current} to roll back to "
                            f"(kept: {names or 'none'}); publish keeps --keep K snapshots")
        target = older[-1]
    elif target not in names:
        raise MeshError(f"unknown snapshot {target!r}: one of {names or 'none (publish first)'}")
    record = _read_record(pub / "snapshots" / target)
    _stable_links(pub, {e["domain"] for e in record["products"].values()})
    _link(f"snapshots/{target}", pub / "current")
    return target


# -- the after-build step and the command ------------------------------------------------

def after_build(ctx) -> None:
    """AFTER_BUILD step: publish what passed (set DUCKMESH_PUBLISH=off to skip)."""
    if os.environ.get("DUCKMESH_PUBLISH", "on").lower() in ("off", "0", "false", "no"):
        print("      publish skipped (DUCKMESH_PUBLISH=off)", flush=True)
        return
    try:
        done = publish(ctx.mesh, in_build=True, log=lambda line: print(line, flush=True))
    except MeshError:
        if not ctx.success:
            print("      nothing published: the build failed before dbt wrote its results; "
                  "the published snapshot is unchanged", flush=True)
            return
        raise
    print(f"      published {len(done.built)} product versions -> published/ "
          f"(snapshot {done.snapshot}"
          + (f", {len(done.carried)} kept from the previous one" if done.carried else "")
          + ")", flush=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "publish", help="publish the products for consumers (atomic, with rollback)",
        description="Copy the products that passed the last `dbt build` into a new snapshot "
                    "(published/mesh.duckdb, Parquet ports, per-consumer databases) and swap "
                    "it in atomically. `duckmesh build` runs this after every build.")
    parser.add_argument("--for", dest="consumers", action="append", default=[],
                        metavar="CONSUMER", help="also write published/consumers/CONSUMER/mesh.duckdb "
                        "(a domain or a consumer in vars.duckmesh_consumers; repeatable)")
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP,
                        help=f"snapshots kept for rollback (default {DEFAULT_KEEP})")
    parser.add_argument("--rollback", nargs="?", const="", default=None, metavar="SNAPSHOT",
                        help="make an older snapshot current again (default: the previous one)")
    parser.add_argument("--list", action="store_true", help="list the kept snapshots")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    pub = published_dir(mesh)
    if args.list:
        current = current_snapshot(pub)
        for name in snapshots(pub):
            record = _read_record(pub / "snapshots" / name)
            print(f"{'*' if name == current else ' '} {name}  {len(record['products'])} "
                  f"product versions  consumers: {', '.join(record['consumers']) or '-'}")
        return 0
    if args.rollback is not None:
        target = rollback(mesh, args.rollback or None)
        print(f"rolled back: published/current -> snapshots/{target}")
        return 0
    done = publish(mesh, consumers=args.consumers, keep=args.keep)
    print(f"published snapshot {done.snapshot}: {len(done.built)} product versions built, "
          f"{len(done.carried)} kept from the previous snapshot, {len(done.dropped)} left out")
    for consumer in done.consumers:
        print(f"  published/consumers/{consumer}/mesh.duckdb")
    return 0
