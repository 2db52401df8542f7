"""Atomic publishing of the public products for consumers.

Layout under ``published/`` (every path a consumer uses goes through ``current``):

    published/current              symlink -> snapshots/<id>: the one commit point
    published/mesh.duckdb          -> current/mesh.duckdb   every published product
    published/<domain>/            -> current/ports/<domain>/<product>/v<N>/<product>_v<N>.parquet
    published/consumers/           -> current/consumers/<consumer>/mesh.duckdb (what it may read)
    published/manifest.json        -> current/manifest.json (dbt manifest of that publish)
    published/snapshots/<id>/      the last K snapshots, never modified once committed
    published/verified.json        the last publish: which snapshot, when, outcome

A publish writes a whole snapshot into ``snapshots/.tmp-<id>``, renames it to
``snapshots/<id>`` and then swaps ``current`` with one rename, so readers see the old
snapshot or the new one, never a mix. Readers that opened the old file keep it (the file
is never rewritten). A product whose model or tests failed keeps its previous published
table. A crash anywhere leaves ``current`` untouched; the next publish removes the leftovers.
A publish that would write the same snapshot again keeps the current one
(publish/unchanged.py).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from duckmesh.core import salt
from duckmesh.core.artifacts import Artifacts
from duckmesh.core.context import BuildContext
from duckmesh.core.products import ProductVersion, port_path, public_products
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.core.sql import qualified_name, quote_ident, sql_path
from duckmesh.governance import gate
from duckmesh.publish import (
    access,
    files,
    gates,
    modes,
    ports,
    registry,
    snapshots,
    unchanged,
    verify,
)
from duckmesh.publish.consumers import write_consumer
from duckmesh.publish.plan import NOT_BUILT, Plan, plan

DEFAULT_KEEP = 3
# zstd at level 1 rather than DuckDB's default 3: at scale 1 the ten ports take 2.9
# instead of 3.7 CPU s to write and come out 3% smaller (107 against 110 MB); reading
# costs the same (zstd decodes at one speed whatever the level)
PORT_FORMAT = "format parquet, compression zstd, compression_level 1"


@dataclass(frozen=True)
class Published:
    snapshot: str
    built: list[str]
    carried: dict[str, str]
    dropped: dict[str, str]
    consumers: list[str]
    unchanged: bool = False  # the current snapshot was kept (publish.unchanged)
    verified_at: str | None = None  # when (published/verified.json)


def _build_artifacts(mesh: Mesh, artifacts: Artifacts | None) -> Artifacts:
    """The last build's artifacts (the copy ``duckmesh build`` keeps when another dbt
    command has since replaced target/manifest.json)."""
    artifacts = artifacts or Artifacts.load(mesh, strict=True)
    run_results = artifacts.run_results
    if run_results is None:
        raise MeshError(f"{mesh.run_results_path} not found: run `duckmesh build`")
    if not artifacts.same_build:
        raise MeshError("target/manifest.json and target/run_results.json are not from the same "
                        "finished `dbt build` (interrupted, or another dbt command ran since): "
                        "run `duckmesh build`, which publishes when it ends")
    return artifacts


# -- writing a snapshot ------------------------------------------------------------------

def _port(root: Path, product: ProductVersion) -> Path:
    return root / "ports" / port_path(product.domain, product.name, product.version)


def _connect_mesh(mesh: Mesh, in_build: bool) -> duckdb.DuckDBPyConnection:
    if not mesh.db_path.exists():
        raise MeshError(f"{mesh.db_path} not found: run `duckmesh build` first")
    if in_build:
        # the build process: the same configuration as dbt-duckdb's connection
        return duckdb.connect(str(mesh.db_path))
    con = duckdb.connect()  # standalone: the mesh read-only, the snapshot writable
    try:
        con.execute(f"attach {sql_path(mesh.db_path)} as mesh_source (read_only)")
    except duckdb.IOException as error:
        con.close()
        raise MeshError(f"cannot read {mesh.db_path} ({error}): a build is running; it "
                        "publishes when it ends") from error
    con.execute("use mesh_source")
    return con


def publish(mesh: Mesh, consumers: list[str] | None = None, keep: int = DEFAULT_KEEP,
            in_build: bool = False, log: Callable[[str], None] = print,
            artifacts: Artifacts | None = None,
            database: duckdb.DuckDBPyConnection | None = None,
            data_set: str | None = None, force: bool = False,
            source_columns: dict[str, list[str]] | None = None,
            prepare: Callable[[], None] | None = None,
            governed: bool = False) -> Published:
    """Publish a new snapshot, or keep the current one when it would be the same
    (publish.unchanged; ``force``: a new one all the same). In a build (``in_build``) the
    build's database is read read-write with dbt-duckdb's configuration, through
    ``database`` when given (the build's one connection, left open); standalone it is
    attached read-only. ``data_set`` names the source data of the build (another one
    than the last publish's starts a new baseline for the volume gate; None: the last
    publish's). ``source_columns``: the build's source relation -> columns, described
    once per build (catalog.store.db_columns).

    Publishers take turns: the whole publish holds published/.publish.lock (a second
    one waits, with a message, then publishes over the first's snapshot). ``prepare``
    runs once the lock is held, before the artifacts are read (a domain's publish merges
    its manifest over the one just published there). Before anything is read from it,
    ``current`` is repaired when it cannot be trusted (snapshots.repair). ``governed``:
    the caller ran the whole policy check over this manifest (governance/gate.py); else
    it runs here first, and a policy error publishes nothing."""
    if keep < 1:
        raise MeshError(f"--keep must be 1 or more, got {keep}")
    pub = snapshots.published_dir(mesh)
    modes.folder(pub, modes.configured(mesh.root))
    with snapshots.lock(pub, log):
        for name in snapshots.recover(pub):
            log(f"      removed {name}, left by an interrupted publish")
        snapshots.repair(pub, log)  # before anything reads the current snapshot
        if prepare is not None:
            prepare()
        return _publish(mesh, consumers, keep, in_build, log, artifacts, database, data_set,
                        force, source_columns, governed)


def _publish(mesh: Mesh, consumers: list[str] | None, keep: int, in_build: bool,
             log: Callable[[str], None], artifacts: Artifacts | None,
             database: duckdb.DuckDBPyConnection | None, data_set: str | None, force: bool,
             source_columns: dict[str, list[str]] | None, governed: bool) -> Published:
    artifacts_used = _build_artifacts(mesh, artifacts)
    manifest, run_results = artifacts_used.manifest, artifacts_used.run_results
    if not governed:
        gate.require(mesh, gate.manifest_with_sql(
            manifest, snapshots.published_dir(mesh) / "current" / "manifest.json"),
            "the last build", log=log, quiet=True)
    groups = access.consumer_groups(mesh.root)
    file_modes = modes.configured(mesh.root)
    pub = snapshots.published_dir(mesh)
    requested = {access.check_consumer(c) for c in consumers or []}
    known = access.known_consumers(manifest, groups)
    unknown = sorted(c for c in requested if c not in known)
    if unknown:
        raise MeshError(f"unknown consumer(s) {unknown}: use a domain ({sorted(known - set(groups))}) "
                        "or declare it under vars.duckmesh_consumers in dbt_project.yml")
    registered = set(registry.registered(pub))  # earlier `--for`s: kept until removed
    for name in sorted(registered - known):
        log(f"      registered consumer {name} is no longer a domain or a declared consumer: "
            f"its file is not written (`duckmesh publish --remove {name}` forgets it)")
    wanted = sorted(set(groups) | requested | (registered & known))
    modes.folder(pub, file_modes)
    modes.folder(pub / "snapshots", file_modes)
    previous_id = snapshots.current_snapshot(pub)  # repaired by publish()
    previous_root = pub / "snapshots" / previous_id if previous_id else None
    previous_record = snapshots.read_record(previous_root) if previous_root else {}
    previous_products = previous_record.get("products") or {}
    decided = plan(manifest, run_results, set(previous_products))
    new_baseline = data_set is not None and previous_record.get("data_set") not in (
        None, data_set)
    guard = ports.Guard(manifest, access.policies(manifest), groups,
                        source_columns=source_columns,
                        hashed=access.hash_template(mesh, manifest, salt.checked_file(mesh)))
    packages = {"duckmesh_platform": mesh.root / "macros",
                **{d.name: d for d in Mesh(mesh.root).domain_dirs()}}
    digest = unchanged.manifest_digest(manifest)
    con = database or _connect_mesh(mesh, in_build)
    try:
        gated = gates.check_plan(mesh, manifest, decided, previous_products, new_baseline, con,
                         in_build, log)
        why: str | None = "a new snapshot was asked for" if force else "nothing published yet"
        if previous_id is not None and previous_root is not None and not force:
            wanted_now = unchanged.Publish(decided, gated, wanted, digest, data_set,
                                           file_modes.record(), packages)
            why = unchanged.why_new(previous_id, previous_root, previous_record, wanted_now)
            if why is None:
                guard.read_lineage(con, mesh, previous_root / "manifest.json")
                why = unchanged.why_access_new(previous_record, wanted_now, guard)
    finally:
        if database is None:
            con.close()
    if not in_build:
        gates.alert_standalone(mesh, manifest, decided, log)
    if why is None and previous_id is not None:
        return _keep_current(pub, previous_id, manifest, keep, requested - set(groups),
                             decided, wanted, log)

    snapshot = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    work = pub / "snapshots" / f".tmp-{snapshot}"
    work.mkdir()
    products = {p.relation: p for p in public_products(manifest)}
    record: dict = {"snapshot": snapshot, "previous": previous_id,
                    "invocation_id": manifest["metadata"]["invocation_id"],
                    "published_at": datetime.now(UTC).isoformat(), "products": {},
                    "consumers": {}, "file_modes": file_modes.record(),
                    "data_set": data_set or previous_record.get("data_set"),
                    "manifest_digest": digest}
    try:
        linked: dict[str, str] = {}  # ports linked from the previous snapshot, hashed
        record["products"] = _write_products(mesh, work, decided, products, previous_root,
                                             previous_record, in_build, snapshot, database,
                                             guard, log, gated, linked)
        previous_tables = previous_record.get("consumer_tables") or {}
        record["consumer_tables"] = {}
        with snapshots.provisional(work, pub / "snapshots" / snapshot):
            for consumer in wanted:
                # a previous consumer file is reused only as it was published
                reusable = previous_root is not None and verify.file_damage(
                    previous_root, previous_record, verify.consumer_file(consumer)) is None
                tables = write_consumer(work, consumer, snapshot, record["products"], guard,
                                        previous_root,
                                        previous_tables.get(consumer) if reusable else None)
                record["consumers"][consumer] = list(tables)
                record["consumer_tables"][consumer] = tables
        _write_manifest(artifacts_used.manifest_file or mesh.manifest_path, manifest,
                        previous_root, work / "manifest.json")
        files.write_packages(packages, work / "packages")
        record["files"] = verify.digests(work, record, known=linked)
        record["file_stats"] = verify.stats(work, sorted([*record["files"], "manifest.json"]))
        damage = verify.read_back(work, record)
        if damage:
            raise duckdb.IOException("the new snapshot does not read back as written: "
                                     + "; ".join(damage))
        (work / "publish.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        modes.apply(work, file_modes, previous_root, previous_record.get("file_modes"))
    except (duckdb.Error, OSError) as error:
        shutil.rmtree(work, ignore_errors=True)
        kept = f"snapshot {previous_id} stays current" if previous_id else "nothing was published"
        raise MeshError(f"publish failed while writing snapshot {snapshot} ({error}): {kept}; "
                        "fix the cause (disk space?) and run `duckmesh publish`") from error

    final = pub / "snapshots" / snapshot
    os.rename(work, final)
    snapshots.stable_links(pub, {p.domain for p in products.values()})
    snapshots.link(f"snapshots/{snapshot}", pub / "current")  # the commit point
    snapshots.prune(pub, keep)
    registry.register(pub, sorted(requested - set(groups)))
    _record_verified(pub, snapshot, record["invocation_id"], "published", log)
    log(f"      new snapshot: {why}")
    log_outcome(decided, log)
    return Published(snapshot, [p.relation for p in decided.build], decided.carry,
                     decided.drop, wanted)


def _write_manifest(source: Path, manifest: dict, previous_root: Path | None,
                    target: Path) -> None:
    """The build's manifest.json for the snapshot; a model this build did not compile
    (its product carried) keeps the compiled SQL of the publish that wrote its table."""
    filled = ports.with_previous_sql(manifest, previous_root / "manifest.json"
                                     if previous_root is not None else None)
    if filled is manifest:
        shutil.copyfile(source, target)
    else:
        target.write_text(json.dumps(filled, indent=2))


def _record_verified(pub: Path, snapshot: str, invocation_id: str, outcome: str,
                     log: Callable[[str], None]) -> str:
    """snapshots.record_verified; a file that cannot be written (the snapshot is
    committed already) is a warning."""
    try:
        return snapshots.record_verified(pub, snapshot, invocation_id, outcome)
    except OSError as error:
        log(f"      warning: {snapshots.VERIFIED} not written ({error})")
        return datetime.now(UTC).isoformat(timespec="seconds")


def _keep_current(pub: Path, current: str, manifest: dict, keep: int, requested: set[str],
                  decided: Plan, wanted: list[str], log: Callable[[str], None]) -> Published:
    """Nothing would change: ``current`` stays (no copy, read-back or digest); the check
    is recorded in published/verified.json and the kept snapshots are pruned to
    ``keep``. Held-back product versions keep their published ones, as a new snapshot
    would have them: repeated failing builds no longer push good snapshots out."""
    snapshots.stable_links(pub, {p.domain for p in decided.build})
    snapshots.prune(pub, keep)
    registry.register(pub, sorted(requested))
    verified = _record_verified(pub, current, manifest["metadata"]["invocation_id"],
                                "unchanged", log)
    if decided.carry:  # held back: say which and why, as a new snapshot would
        log_outcome(Plan(carry=decided.carry), log)
    return Published(current, [p.relation for p in decided.build], dict(decided.carry),
                     dict(decided.drop), wanted, unchanged=True, verified_at=verified)


def log_outcome(decided: Plan, log: Callable[[str], None]) -> None:
    """What was published and what was not, and why."""
    if decided.build:
        log(f"      published: {', '.join(sorted(p.relation for p in decided.build))}")
    unbuilt = sorted(n for n, why in decided.carry.items() if why == NOT_BUILT)
    if len(unbuilt) > 1:  # a --select or --changed-only build: one line, not one each
        log(f"      {len(unbuilt)} product versions {NOT_BUILT}: their published "
            f"versions stay ({', '.join(unbuilt)})")
    for name, why in sorted(decided.carry.items()):
        if len(unbuilt) < 2 or name not in unbuilt:
            log(f"      {name} not published ({why}): the previous version stays")
    for name, why in sorted(decided.drop.items()):
        log(f"      {name} not published ({why}) and never published before")


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[list[str]]:
    return [[c, t] for c, t, *_ in con.execute(f"describe {source}").fetchall()]


def _write_products(mesh: Mesh, work: Path, decided: Plan, products: dict[str, ProductVersion],
                    previous_root: Path | None, previous_record: dict, in_build: bool,
                    snapshot: str, database: duckdb.DuckDBPyConnection | None,
                    guard: ports.Guard, log: Callable[[str], None] = print,
                    gated: gates.GateResult | None = None,
                    verified: dict[str, str] | None = None) -> dict:
    """Write the snapshot database and the Parquet ports; return the products' entries.

    A product's rows and checksum are computed once, from the build's table. A built
    product whose rows, checksum and columns equal the previous snapshot's reuses that
    snapshot's table (the new database starts as a copy of the previous one) and links its
    Parquet port; the others are copied from the build and their port is written from the
    snapshot copy. Carried products keep the previous snapshot's table and port. A port
    holds what every consumer may see (publish.ports): it is linked from the previous
    snapshot only when its select list is unchanged too.

    Nothing is reused unverified (publish/verify.py): a previous database that changed
    since it was published is not copied (every built product is copied from the build,
    each carried one from the newest kept snapshot where its table is intact), and a port
    that changed is written again from its table."""
    previous = previous_record.get("products") or {}
    verified = {} if verified is None else verified
    con = database or _connect_mesh(mesh, in_build)
    try:
        if guard.lineage is None:
            guard.read_lineage(con, mesh,
                               previous_root / "manifest.json" if previous_root else None)
        measured = {}
        for product in decided.build:
            source = f"{quote_ident(product.schema)}.{quote_ident(product.relation_name)}"
            row_count, checksum = (gated.measured if gated else {}).get(
                product.relation) or files.checksum(con, product.schema, product.relation_name)
            columns = (gated.columns if gated else {}).get(product.relation) or _columns(
                con, source)
            measured[product.relation] = (row_count, checksum, columns)
        unchanged = {r for r, (row_count, checksum, columns) in measured.items()
                     if previous_root is not None and r in previous
                     and previous[r].get("rows") == row_count
                     and previous[r].get("checksum") == checksum
                     and previous[r].get("columns") == columns
                     and _port(previous_root, products[r]).is_file()}
        keep = unchanged | set(decided.carry)
        base = files.reusable_base(previous_root, Path("mesh.duckdb")) if keep else None
        if base is not None and previous_root is not None:
            damage = verify.database_damage(previous_root, previous_record, keep)
            if damage:
                log(f"      the previous snapshot is damaged ({'; '.join(damage)}): nothing is "
                    "copied from it, products are written again from the build")
                base = None
        pub = snapshots.published_dir(mesh)
        carried_from = {} if base is not None else verify.carry_sources(
            [pub / "snapshots" / name for name in snapshots.snapshots(pub)], previous_root,
            decided, log)
        target = work / "mesh.duckdb"
        if base is not None:
            shutil.copyfile(base, target)
        else:
            keep = set()
        con.execute(f"attach {sql_path(target)} as snap")
        sources = sorted(set(carried_from.values()))
        for index, source_db in enumerate(sources):
            con.execute(f"attach {sql_path(source_db)} as prev_{index} (read_only)")
        try:
            if base is not None:
                files.clear(con, "snap", keep)
            selects: dict[str, str] = {}  # relation -> the public port's select list
            for product in decided.build:
                if product.relation not in keep:
                    _copy_table(con, None, product, "snap")
                selects[product.relation] = guard.select(
                    product.unique_id, None, [(c, t) for c, t in measured[product.relation][2]])
                _write_port(con, work, previous_root, previous_record, product,
                            selects[product.relation],
                            product.relation in unchanged
                            and previous[product.relation].get("port_select")
                            == selects[product.relation], log, verified)
            for relation in decided.carry:
                product = products[relation]
                if base is None:
                    source = f"prev_{sources.index(carried_from[relation])}"
                    _copy_table(con, source, product, "snap")
                columns = previous[relation].get("columns") or _columns(
                    con, f"snap.{qualified_name(product.schema, product.relation_name)}")
                selects[relation] = guard.select(product.unique_id, None,
                                                 [(c, t) for c, t in columns])
                _write_port(con, work, previous_root, previous_record, product,
                            selects[relation], base is not None
                            and previous[relation].get("port_select") == selects[relation],
                            log, verified)
            entries, rows = {}, []
            present = [*decided.build, *(products[r] for r in decided.carry)]
            for product in sorted(present, key=lambda p: p.relation):
                relation = product.relation
                carried = relation in decided.carry
                if carried:
                    old = previous[relation]
                    count, checksum = old["rows"], old["checksum"]
                    columns = old.get("columns") or _columns(
                        con, f"snap.{qualified_name(product.schema, product.relation_name)}")
                else:
                    count, checksum, columns = measured[relation]
                origin = f"carried from {previous[relation]['origin_snapshot']}" if carried \
                    else "built"
                entries[relation] = {
                    "domain": product.domain, "product": product.name,
                    "version": product.version, "rows": count, "checksum": checksum,
                    "columns": columns, "latest": product.is_latest,
                    "unique_id": product.unique_id, "port_select": selects[relation],
                    # numeric totals: the next publish's totals_band (publish/gates.py)
                    "totals": previous[relation].get("totals") if carried
                    else (gated.totals if gated else {}).get(relation),
                    "reused": relation in keep and not carried,
                    "origin_snapshot": previous[relation]["origin_snapshot"] if carried
                    else snapshot}
                rows.append([relation, product.domain, product.name, product.version,
                             count, checksum, origin])
        finally:
            con.execute("detach snap")
            for index in range(len(sources)):
                con.execute(f"detach prev_{index}")
    finally:
        if database is None:
            con.close()
    con = duckdb.connect(str(target))
    try:
        _latest_views(con, present)
        files.metadata(con, snapshot, rows)
        con.execute("checkpoint")
    finally:
        con.close()
    return entries


def _write_port(con: duckdb.DuckDBPyConnection, work: Path, previous_root: Path | None,
                previous_record: dict, product: ProductVersion, select: str, reuse: bool,
                log: Callable[[str], None], verified: dict[str, str]) -> None:
    """The product's Parquet port: a link to the previous snapshot's when it holds the
    same rows through the same select list (``reuse``) and the linked file hashes to
    the digest recorded for it (checked after linking, on the very file the new
    snapshot holds, and kept in ``verified`` so it is not hashed twice); else written
    from the snapshot table."""
    port = _port(work, product)
    port.parent.mkdir(parents=True, exist_ok=True)
    relative = port.relative_to(work).as_posix()
    if reuse and previous_root is not None and _port(previous_root, product).is_file():
        files.link_file(_port(previous_root, product), port)
        expected = (previous_record.get("files") or {}).get(relative)
        if expected is not None:
            digest = verify.sha256(port)
            if digest == expected:
                verified[relative] = digest
                return
            problem: str | None = (f"{relative} changed since it was published (SHA-256 "
                                   "differs)")
        else:  # a snapshot written before ports were hashed: its rows read back
            problem = verify.port_damage(previous_root, previous_record, product.relation)
            if problem is None:
                return
        port.unlink()
        log(f"      {problem}: written again from its table")
    con.execute(f"copy (select {select} from "
                f"snap.{qualified_name(product.schema, product.relation_name)}) "
                f"to {sql_path(port)} ({PORT_FORMAT})")


def _copy_table(con: duckdb.DuckDBPyConnection, source_db: str | None,
                product: ProductVersion, target_db: str) -> None:
    schema, name = quote_ident(product.schema), quote_ident(product.relation_name)
    source = f"{quote_ident(source_db)}.{schema}.{name}" if source_db else f"{schema}.{name}"
    con.execute(f"create schema if not exists {target_db}.{schema}")
    con.execute(f"create table {target_db}.{schema}.{name} as select * from {source}")


def _latest_views(con: duckdb.DuckDBPyConnection, products: list[ProductVersion]) -> None:
    for product in products:
        if product.is_latest:
            con.execute(f"create view {qualified_name(product.schema, product.name)} as select * from "
                        f"{quote_ident(product.schema)}.{quote_ident(product.relation_name)}")


# -- the build's steps and the command ----------------------------------------------------

def check_published(mesh: Mesh, log: Callable[[str], None] = print) -> str | None:
    """Before dbt reads the last publish (governance P09 compares with its manifest, a
    domain build reads its products): ``current`` points into published/snapshots/ and
    its publish.json and manifest.json are intact (by SHA-256), else it is re-pointed at
    the newest intact snapshot, with a message (snapshots.repair); return the current
    snapshot. Under the publish lock: a publish running now ends first."""
    pub = snapshots.published_dir(mesh)
    if not (pub / "current").is_symlink() and not (pub / "current").exists():
        return None
    with snapshots.lock(pub, log):
        snapshots.recover(pub)
        return snapshots.repair(pub, log)


def before_build(ctx: BuildContext) -> None:
    """BEFORE_BUILD step: the publish the build compares with can be trusted
    (check_published)."""
    check_published(ctx.mesh, log=lambda line: print(line, flush=True))



def after_build(ctx: BuildContext) -> None:
    """AFTER_BUILD step: publish what passed (set DUCKMESH_PUBLISH=off to skip)."""
    modes.not_world_readable(ctx.mesh.db_path)  # the domains' private working area
    if not ctx.mesh.settings.publish:
        print("      publish skipped (DUCKMESH_PUBLISH=off)", flush=True)
        return
    if not ctx.results_written:  # ctx.artifacts are then the last build's
        print("      nothing published: the build failed before dbt wrote its results; "
              "the published snapshot is unchanged", flush=True)
        return
    if not ctx.governed:
        print("      nothing published: governance reported errors (below); the published "
              "snapshot is unchanged", flush=True)
        return
    try:
        done = publish(ctx.mesh, in_build=True, log=lambda line: print(line, flush=True),
                       artifacts=ctx.artifacts, database=ctx.database(), governed=True,
                       data_set=f"{relative(ctx.data_dir, ctx.mesh.root)} seed {ctx.seed}",
                       source_columns=ctx.source_columns)
    except MeshError:
        if not ctx.success:
            print("      nothing published: the build failed before dbt wrote its results; "
                  "the published snapshot is unchanged", flush=True)
            return
        raise
    if done.unchanged:  # what passed is as published; what was held back keeps its version
        held = f", {len(done.carried)} held back as published" if done.carried else ""
        print(f"      unchanged: snapshot {done.snapshot} kept ({len(done.built)} product "
              f"versions{held}, their consumers and access as published; verified "
              f"{done.verified_at})", flush=True)
    else:
        print(f"      published {len(done.built)} product versions -> published/ "
              f"(snapshot {done.snapshot}"
              + (f", {len(done.carried)} kept from the previous one" if done.carried else "")
              + ")", flush=True)
    gated = sorted(r for r, why in {**done.carried, **done.dropped}.items()
                   if why.startswith(gates.GATE))
    if gated and ctx.success:
        raise MeshError(f"{', '.join(gated)} failed the quality gates (see above): "
                        f"{len({**done.carried, **done.dropped})} product version(s) not "
                        "published, consumers keep the previous versions; fix the data or the "
                        "expectations (meta.quality, docs/quality-gates.md) and build again")


def remove_consumer(mesh: Mesh, name: str, keep: int = DEFAULT_KEEP,
                    log: Callable[[str], None] = print) -> Published:
    """`publish --remove NAME`: forget a consumer registered with `--for` and publish a
    snapshot without its file (older snapshots keep theirs until pruned)."""
    consumer, groups = access.check_consumer(name), set(access.consumer_groups(mesh.root))
    return publish(mesh, keep=keep, log=log, prepare=lambda: registry.remove(
        snapshots.published_dir(mesh), consumer, groups))
