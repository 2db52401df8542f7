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

from duckmesh.catalog import store as catalog_store
from duckmesh.core import builddb, salt
from duckmesh.core.artifacts import Artifacts
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console, step
from duckmesh.core.products import ProductVersion, port_path, public_products
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.core.sql import qualified_name, quote_ident, sql_path
from duckmesh.governance import gate
from duckmesh.publish import (
    DEFAULT_KEEP,
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
from duckmesh.publish.record import Previous, Snapshot

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
        return builddb.connect(mesh.db_path)
    con = duckdb.connect()  # standalone: the mesh read-only, the snapshot writable
    try:
        con.execute(f"attach {sql_path(mesh.db_path)} as mesh_source (read_only)")
        builddb.attach_products(con, mesh.db_path, read_only=True)
    except duckdb.IOException as error:
        con.close()
        raise MeshError(f"cannot read {mesh.db_path} ({error}): a build is running; it "
                        "publishes when it ends") from error
    con.execute("use mesh_source")
    return con


def publish(mesh: Mesh, consumers: list[str] | None = None, keep: int = DEFAULT_KEEP,
            in_build: bool = False, log: Callable[[str], None] = step,
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


@dataclass
class Request:
    """A publish resolved against the build and published/ (the plan phase): what to
    publish, for whom, over which current snapshot."""

    mesh: Mesh
    artifacts: Artifacts
    pub: Path
    groups: dict[str, tuple[str, ...]]
    file_modes: modes.Modes
    requested: set[str]  # consumers asked for by name (`--for`) this time
    wanted: list[str]  # every consumer that gets a file
    previous: Previous
    decided: Plan
    guard: ports.Guard
    packages: dict[str, Path]  # name -> the dbt package's folder (files.write_packages)
    digest: str  # unchanged.manifest_digest
    data_set: str | None
    in_build: bool
    log: Callable[[str], None]

    @property
    def manifest(self) -> dict:
        return self.artifacts.manifest


def _publish(mesh: Mesh, consumers: list[str] | None, keep: int, in_build: bool,
             log: Callable[[str], None], artifacts: Artifacts | None,
             database: duckdb.DuckDBPyConnection | None, data_set: str | None, force: bool,
             source_columns: dict[str, list[str]] | None, governed: bool) -> Published:
    """The phases: plan, gate (and the catalog), decide whether the current snapshot
    stays, write, verify, commit."""
    request = _plan(mesh, consumers, in_build, log, artifacts, data_set, source_columns,
                    governed)
    con = database or _connect_mesh(mesh, in_build)
    try:
        gated = gates.check_plan(mesh, request.manifest, request.decided,
                                 request.previous.products, _new_baseline(request), con,
                                 in_build, log)
        catalog = catalog_store.snapshot_rows(mesh, con, request.artifacts, source_columns)
        why = "a new snapshot was asked for" if force else _why_new(request, gated, catalog,
                                                                     con)
    finally:
        if database is None:
            con.close()
    if not in_build:
        gates.alert_standalone(mesh, request.manifest, request.decided, log)
    if why is None and request.previous.name is not None:
        return _keep_current(request.pub, request.previous.name, request.manifest, keep,
                             request.requested - set(request.groups), request.decided,
                             request.wanted, log)
    snapshot = _new_snapshot(request, catalog)
    work = request.pub / "snapshots" / f".tmp-{snapshot.snapshot}"
    work.mkdir()
    try:
        linked = _write(request, snapshot, work, database, gated, catalog)
        _verify(work, snapshot, linked)
        snapshot.write(work)
        modes.apply(work, request.file_modes, request.previous.root,
                    request.previous.record.get("file_modes"))
    except (duckdb.Error, OSError) as error:
        shutil.rmtree(work, ignore_errors=True)
        kept = (f"snapshot {request.previous.name} stays current" if request.previous.name
                else "nothing was published")
        raise MeshError(f"publish failed while writing snapshot {snapshot.snapshot} ({error}): "
                        f"{kept}; fix the cause (disk space?) and run `duckmesh publish`"
                        ) from error
    return _commit(request, work, snapshot, keep, why or "")


def _plan(mesh: Mesh, consumers: list[str] | None, in_build: bool,
          log: Callable[[str], None], artifacts: Artifacts | None, data_set: str | None,
          source_columns: dict[str, list[str]] | None, governed: bool) -> Request:
    """The plan phase: the build's artifacts (governed: the whole policy check passed
    over them, else it runs here), the consumers that get a file, the current snapshot
    and what each product version becomes (publish.plan)."""
    artifacts_used = _build_artifacts(mesh, artifacts)
    manifest, run_results = artifacts_used.manifest, artifacts_used.run_results
    pub = snapshots.published_dir(mesh)
    if not governed:
        gate.require(mesh, gate.manifest_with_sql(manifest, pub / "current" / "manifest.json"),
                     "the last build", log=log, quiet=True)
    groups = access.consumer_groups(mesh.root)
    file_modes = modes.configured(mesh.root)
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
    modes.folder(pub, file_modes)
    modes.folder(pub / "snapshots", file_modes)
    previous_id = snapshots.current_snapshot(pub)  # repaired by publish()
    previous_root = pub / "snapshots" / previous_id if previous_id else None
    previous = Previous(previous_id, previous_root,
                        snapshots.read_record(previous_root) if previous_root else {})
    guard = ports.Guard(manifest, access.policies(manifest), groups,
                        source_columns=source_columns,
                        hashed=access.hash_template(mesh, manifest, salt.checked_file(mesh)))
    return Request(
        mesh=mesh, artifacts=artifacts_used, pub=pub, groups=groups, file_modes=file_modes,
        requested=requested, wanted=sorted(set(groups) | requested | (registered & known)),
        previous=previous, decided=plan(manifest, run_results, set(previous.products)),
        guard=guard, packages={"duckmesh_platform": mesh.root / "macros",
                               **{d.name: d for d in Mesh(mesh.root).domain_dirs()}},
        digest=unchanged.manifest_digest(manifest), data_set=data_set, in_build=in_build,
        log=log)


def _new_baseline(request: Request) -> bool:
    """Another data set than the last publish's: the volume gate starts a new baseline."""
    return request.data_set is not None and request.previous.record.get("data_set") not in (
        None, request.data_set)


def _why_new(request: Request, gated: gates.GateResult, catalog: dict[str, list[dict]],
             con: duckdb.DuckDBPyConnection) -> str | None:
    """The decide-unchanged phase: why a new snapshot is needed (None: the current one
    would be written again; publish.unchanged)."""
    previous = request.previous
    if previous.name is None or previous.root is None:
        return "nothing published yet"
    wanted_now = unchanged.Publish(request.decided, gated, request.wanted, request.digest,
                                   request.data_set, request.file_modes.record(),
                                   request.packages, catalog_store.rows_digest(catalog))
    why = unchanged.why_new(previous.name, previous.root, previous.record, wanted_now)
    if why is None:
        request.guard.read_lineage(con, request.mesh, previous.root / "manifest.json")
        why = unchanged.why_access_new(previous.record, wanted_now, request.guard)
    return why


def _new_snapshot(request: Request, catalog: dict[str, list[dict]]) -> Snapshot:
    now = datetime.now(UTC)
    return Snapshot(
        snapshot=now.strftime("%Y%m%dT%H%M%S%fZ"), previous=request.previous.name,
        invocation_id=request.manifest["metadata"]["invocation_id"],
        published_at=now.isoformat(), file_modes=request.file_modes.record(),
        data_set=request.data_set or request.previous.record.get("data_set"),
        manifest_digest=request.digest, catalog_digest=catalog_store.rows_digest(catalog))


def _write(request: Request, snapshot: Snapshot, work: Path,
           database: duckdb.DuckDBPyConnection | None, gated: gates.GateResult,
           catalog: dict[str, list[dict]]) -> dict[str, str]:
    """The write phase: the snapshot database and Parquet ports, the consumer files, the
    manifest and the dbt packages into ``work``; return the digests of the ports linked
    from the previous snapshot (checked on the linked files already)."""
    linked: dict[str, str] = {}
    products = {p.relation: p for p in public_products(request.manifest)}
    snapshot.products = _write_products(request, work, snapshot.snapshot, products, database,
                                        gated, linked)
    _finish_database(work / "mesh.duckdb", snapshot.snapshot, products, snapshot.products,
                     catalog)
    previous = request.previous
    previous_tables = previous.record.get("consumer_tables") or {}
    with snapshots.provisional(work, request.pub / "snapshots" / snapshot.snapshot):
        for consumer in request.wanted:
            # a previous consumer file is reused only as it was published
            reusable = previous.root is not None and verify.file_damage(
                previous.root, previous.record, verify.consumer_file(consumer)) is None
            tables = write_consumer(work, consumer, snapshot.snapshot, snapshot.products,
                                    request.guard, previous.root,
                                    previous_tables.get(consumer) if reusable else None)
            snapshot.consumers[consumer] = list(tables)
            snapshot.consumer_tables[consumer] = tables
    _write_manifest(request.artifacts.manifest_file or request.mesh.manifest_path,
                    request.manifest, previous.root, work / "manifest.json",
                    request.mesh.db_path.stem)
    files.write_packages(request.packages, work / "packages")
    return linked


def _verify(work: Path, snapshot: Snapshot, linked: dict[str, str]) -> None:
    """The verify phase: the SHA-256 of every file (the linked ports' known already),
    their sizes and times, and the row counts as written (verify.written: metadata and
    footers, no second read of the rows)."""
    snapshot.files = verify.digests(work, snapshot.record(), known=linked)
    snapshot.file_stats = verify.stats(work, sorted([*snapshot.files, verify.MANIFEST]))
    damage = verify.written(work, snapshot.record())
    if damage:
        raise duckdb.IOException("the new snapshot does not hold what was written: "
                                 + "; ".join(damage))


def _commit(request: Request, work: Path, snapshot: Snapshot, keep: int, why: str
            ) -> Published:
    """The commit phase: the snapshot renamed into place, then ``current`` switched with
    one rename (the commit point); older snapshots pruned to ``keep``."""
    pub = request.pub
    os.rename(work, pub / "snapshots" / snapshot.snapshot)
    snapshots.stable_links(pub, {p.domain for p in public_products(request.manifest)})
    snapshots.link(f"snapshots/{snapshot.snapshot}", pub / "current")  # the commit point
    snapshots.prune(pub, keep)
    registry.register(pub, sorted(request.requested - set(request.groups)))
    _record_verified(pub, snapshot.snapshot, snapshot.invocation_id, "published",
                     request.log)
    request.log(f"      new snapshot: {why}")
    log_outcome(request.decided, request.log)
    decided = request.decided
    return Published(snapshot.snapshot, [p.relation for p in decided.build], decided.carry,
                     decided.drop, request.wanted)


def _write_manifest(source: Path, manifest: dict, previous_root: Path | None,
                    target: Path, main: str) -> None:
    """The build's manifest.json for the snapshot; a model this build did not compile
    (its product carried) keeps the compiled SQL of the publish that wrote its table, and
    the products are recorded where the snapshot serves them (builddb.served)."""
    filled = builddb.served(ports.with_previous_sql(manifest, previous_root / "manifest.json"
                                            if previous_root is not None else None), main)
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


Measured = dict[str, tuple[int, str, list[list[str]]]]  # relation -> rows, checksum, columns


def _write_products(request: Request, work: Path, snapshot: str,
                    products: dict[str, ProductVersion],
                    database: duckdb.DuckDBPyConnection | None, gated: gates.GateResult,
                    verified: dict[str, str]) -> dict[str, dict]:
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
    that changed is written again from its table (``verified``: the digests of the ports
    linked and checked)."""
    con = database or _connect_mesh(request.mesh, request.in_build)
    try:
        previous = request.previous
        if request.guard.lineage is None:
            request.guard.read_lineage(con, request.mesh, previous.root / "manifest.json"
                                       if previous.root else None)
        measured = _measure(con, request.decided, gated)
        same = {r for r, (rows, checksum, columns) in measured.items()
                if previous.root is not None and r in previous.products
                and (previous.products[r].get("rows"), previous.products[r].get("checksum"),
                     previous.products[r].get("columns")) == (rows, checksum, columns)
                and _port(previous.root, products[r]).is_file()}
        target = work / "mesh.duckdb"
        whole = _products_file(request, con)
        copied = isinstance(whole, Path)
        if isinstance(whole, Path):  # the snapshot database is the products file, copied
            request.log(f"      snapshot database: a {files.clone_file(whole, target)} of "
                        f"{whole.name} ({whole.stat().st_size / 1e6:.1f} MB)")
            base, keep, carried_from = None, set(), {}
        else:
            base = _reusable_base(request, same | set(request.decided.carry))
            keep = same | set(request.decided.carry) if base is not None else set()
            carried_from = {} if base is not None else verify.carry_sources(
                [request.pub / "snapshots" / name for name in snapshots.snapshots(request.pub)],
                previous.root, request.decided, request.log)
            if base is not None:
                shutil.copyfile(base, target)
            if any(p.database == builddb.PRODUCTS for p in request.decided.build):
                request.log(f"      snapshot database written table by table ({whole})")
        con.execute(f"attach {sql_path(target)} as snap")
        sources = sorted(set(carried_from.values()))
        for index, source_db in enumerate(sources):
            con.execute(f"attach {sql_path(source_db)} as prev_{index} (read_only)")
        try:
            if copied:  # its latest views name the products database
                files.clear(con, "snap", {p.relation for p in request.decided.build})
            elif base is not None:
                files.clear(con, "snap", keep)
            for relation in request.decided.carry:
                if base is None:
                    source = f"prev_{sources.index(carried_from[relation])}"
                    _copy_table(con, source, products[relation], "snap")
            for product in request.decided.build:
                if product.relation not in keep and not copied:
                    _copy_table(con, None, product, "snap")
            return _ports_and_entries(con, request, work, snapshot, products, measured,
                                      same, keep, base is not None, gated, verified)
        finally:
            con.execute("detach snap")
            for index in range(len(sources)):
                con.execute(f"detach prev_{index}")
    finally:
        if database is None:
            con.close()


def _measure(con: duckdb.DuckDBPyConnection, decided: Plan, gated: gates.GateResult
             ) -> Measured:
    """Rows, checksum and columns of each built product version: the quality gates'
    scan (gated), else read from the build's table."""
    measured = {}
    for product in decided.build:
        source = f"{quote_ident(product.schema)}.{quote_ident(product.relation_name)}"
        rows, checksum = gated.measured.get(product.relation) or files.checksum(
            con, product.schema, product.relation_name)
        columns = gated.columns.get(product.relation) or _columns(con, source)
        measured[product.relation] = (rows, checksum, columns)
    return measured


# A rebuilt table is written before the one it replaces is dropped (dbt's table
# materialization; an incremental merge rewrites the row groups it changes), so a
# products file is about half free blocks from one build to the next: a copy of it may be
# up to three times the rows' size before the snapshot is written table by table instead.
PRODUCTS_FILE_FREE = 2 / 3


def _products_file(request: Request, con: duckdb.DuckDBPyConnection) -> Path | str:
    """The build's products file (core/builddb.py) when the snapshot's database may be
    a copy of it, no row written again: every product version of the snapshot was built
    now, into that file, and passed (none carried or dropped: their rows must not be in
    the copy, not even in free blocks), the file holds no other table, and once
    checkpointed it has no WAL and at most PRODUCTS_FILE_FREE of it is free blocks.
    Else why not."""
    decided = request.decided
    if decided.carry or decided.drop:
        return "product versions held back or not built"
    if not decided.build or any(p.database != builddb.PRODUCTS for p in decided.build):
        return "the products are not built into a products file"
    path = builddb.products_path(request.mesh.db_path)
    attached = con.execute("select path, readonly from duckdb_databases() "
                           "where database_name = ?", [builddb.PRODUCTS]).fetchall()
    if not attached or Path(attached[0][0]).resolve() != path.resolve():
        return f"{path.name} is not attached"
    tables = {f"{s}.{n}" for s, n in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ?",
        [builddb.PRODUCTS]).fetchall()}
    retired = tables - {p.relation for p in public_products(request.manifest)}
    if retired and not attached[0][1]:  # no longer a product: dbt never drops them
        views = {f"{s}.{n}" for s, n in con.execute(
            "select schema_name, view_name from duckdb_views() "
            "where database_name = current_database() and not internal").fetchall()}
        for relation in sorted(retired):
            address = qualified_name(*relation.split("."))
            con.execute(f"drop table {builddb.PRODUCTS}.{address}")
            if relation in views:  # its address in the mesh's database (forward_products)
                con.execute(f"drop view {address}")
        return (f"dropped {', '.join(sorted(retired))} from {path.name}: no longer a product "
                "version of this mesh")
    if tables != {p.relation for p in decided.build}:
        return f"{path.name} holds tables that are not this build's products"
    if not attached[0][1]:
        con.execute(f"checkpoint {builddb.PRODUCTS}")
    if files.has_wal(path):
        return f"{path.name} is not checkpointed"
    if not files.compact(con, builddb.PRODUCTS, PRODUCTS_FILE_FREE):
        return f"more than {PRODUCTS_FILE_FREE:.0%} of {path.name} is free space"
    return path


def _reusable_base(request: Request, keep: set[str]) -> Path | None:
    """The previous snapshot's database, when the new one may start as a copy of it:
    it keeps tables (``keep``), is checkpointed and compact, and verifies."""
    previous = request.previous
    base = files.reusable_base(previous.root, Path("mesh.duckdb")) if keep else None
    if base is None or previous.root is None:
        return None
    damage = verify.database_damage(previous.root, previous.record, keep)
    if damage:
        request.log(f"      the previous snapshot is damaged ({'; '.join(damage)}): nothing "
                    "is copied from it, products are written again from the build")
        return None
    return base


def _ports_and_entries(con: duckdb.DuckDBPyConnection, request: Request, work: Path,
                       snapshot: str, products: dict[str, ProductVersion],
                       measured: Measured, same: set[str], keep: set[str], from_base: bool,
                       gated: gates.GateResult, verified: dict[str, str]) -> dict[str, dict]:
    """Each product version's Parquet port (linked when its rows and select list are
    those of the previous snapshot's port, else written from the snapshot table) and its
    entry in the record."""
    previous = request.previous.products
    decided = request.decided
    entries = {}
    present = [*decided.build, *(products[r] for r in decided.carry)]
    for product in sorted(present, key=lambda p: p.relation):
        relation = product.relation
        carried = relation in decided.carry
        if carried:
            old = previous[relation]
            rows, checksum = old["rows"], old["checksum"]
            columns = old.get("columns") or _columns(
                con, f"snap.{qualified_name(product.schema, product.relation_name)}")
        else:
            rows, checksum, columns = measured[relation]
        select = request.guard.select(product.unique_id, None, [(c, t) for c, t in columns])
        reuse = (from_base if carried else relation in same) \
            and previous[relation].get("port_select") == select
        _write_port(con, work, request.previous, product, select, reuse, request.log,
                    verified)
        entries[relation] = {
            "domain": product.domain, "product": product.name,
            "version": product.version, "rows": rows, "checksum": checksum,
            "columns": columns, "latest": product.is_latest,
            "unique_id": product.unique_id, "port_select": select,
            # numeric totals: the next publish's totals_band (publish/gates.py)
            "totals": previous[relation].get("totals") if carried
            else gated.totals.get(relation),
            "reused": relation in keep and not carried,
            "origin_snapshot": previous[relation]["origin_snapshot"] if carried
            else snapshot}
    return entries


def _finish_database(target: Path, snapshot: str, products: dict[str, ProductVersion],
                     entries: dict, catalog: dict[str, list[dict]]) -> None:
    """The snapshot database's views and tables beside the products: the latest-version
    views, ``_duckmesh`` (the snapshot, its products, their ports at snapshot paths) and
    the catalog (``mesh_catalog``, as consumers may see it: catalog.store.for_snapshot),
    checkpointed."""
    present = [products[relation] for relation in sorted(entries)]
    ports = {r: f"snapshots/{snapshot}/{verify.port_file(e)}" for r, e in entries.items()}
    con = duckdb.connect(str(target))
    try:
        _latest_views(con, present)
        files.metadata(con, snapshot, [
            [r, e["domain"], e["product"], e["version"], e["rows"], e["checksum"],
             f"carried from {e['origin_snapshot']}" if e["origin_snapshot"] != snapshot
             else "built"] for r, e in sorted(entries.items())])
        files.port_files(con, ports)
        catalog_store.write_tables(con, catalog_store.for_snapshot(catalog, {
            r: (e["rows"], f"published/{port_path(e['domain'], e['product'], e['version'])}")
            for r, e in entries.items()}))
        con.execute("checkpoint")
    finally:
        con.close()


def _write_port(con: duckdb.DuckDBPyConnection, work: Path, previous: Previous,
                product: ProductVersion, select: str, reuse: bool,
                log: Callable[[str], None], verified: dict[str, str]) -> None:
    """The product's Parquet port: a link to the previous snapshot's when it holds the
    same rows through the same select list (``reuse``) and the linked file hashes to
    the digest recorded for it (checked after linking, on the very file the new
    snapshot holds, and kept in ``verified`` so it is not hashed twice); else written
    from the snapshot table."""
    port = _port(work, product)
    port.parent.mkdir(parents=True, exist_ok=True)
    relative = port.relative_to(work).as_posix()
    if reuse and previous.root is not None and _port(previous.root, product).is_file():
        files.link_file(_port(previous.root, product), port)
        expected = (previous.record.get("files") or {}).get(relative)
        if expected is not None:
            digest = verify.sha256(port)
            if digest == expected:
                verified[relative] = digest
                return
            problem: str | None = (f"{relative} changed since it was published (SHA-256 "
                                   "differs)")
        else:  # a snapshot written before ports were hashed: its rows read back
            problem = verify.port_damage(previous.root, previous.record, product.relation)
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

def check_published(mesh: Mesh, log: Callable[[str], None] = step) -> str | None:
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
    check_published(ctx.mesh, log=console().step)



def after_build(ctx: BuildContext) -> None:
    """AFTER_BUILD step: publish what passed (set DUCKMESH_PUBLISH=off to skip)."""
    modes.not_world_readable(ctx.mesh.db_path)  # the domains' private working area
    if not ctx.mesh.settings.publish:
        console().step("      publish skipped (DUCKMESH_PUBLISH=off)")
        return
    if not ctx.results_written:  # ctx.artifacts are then the last build's
        console().warn("      nothing published: the build failed before dbt wrote its results; "
                       "the published snapshot is unchanged", err=False)
        return
    if not ctx.governed:
        console().warn("      nothing published: governance reported errors (below); the published "
                       "snapshot is unchanged", err=False)
        return
    try:
        done = publish(ctx.mesh, in_build=True, log=console().step,
                       artifacts=ctx.artifacts, database=ctx.database(), governed=True,
                       data_set=f"{relative(ctx.data_dir, ctx.mesh.root)} seed {ctx.seed}",
                       source_columns=ctx.source_columns)
    except MeshError:
        if not ctx.success:
            console().warn("      nothing published: the build failed before dbt wrote its results; "
                           "the published snapshot is unchanged", err=False)
            return
        raise
    if done.unchanged:  # what passed is as published; what was held back keeps its version
        held = f", {len(done.carried)} held back as published" if done.carried else ""
        console().step(f"      unchanged: snapshot {done.snapshot} kept ({len(done.built)} product "
                       f"versions{held}, their consumers and access as published; verified "
                       f"{done.verified_at})")
    else:
        console().step(f"      published {len(done.built)} product versions -> published/ "
                       f"(snapshot {done.snapshot}"
                       + (f", {len(done.carried)} kept from the previous one" if done.carried else "")
                       + ")")
    gated = sorted(r for r, why in {**done.carried, **done.dropped}.items()
                   if why.startswith(gates.GATE))
    if gated and ctx.success:
        raise MeshError(f"{', '.join(gated)} failed the quality gates (see above): "
                        f"{len({**done.carried, **done.dropped})} product version(s) not "
                        "published, consumers keep the previous versions; fix the data or the "
                        "expectations (meta.quality, docs/quality-gates.md) and build again")


def remove_consumer(mesh: Mesh, name: str, keep: int = DEFAULT_KEEP,
                    log: Callable[[str], None] = step) -> Published:
    """`publish --remove NAME`: forget a consumer registered with `--for` and publish a
    snapshot without its file (older snapshots keep theirs until pruned)."""
    consumer, groups = access.check_consumer(name), set(access.consumer_groups(mesh.root))
    return publish(mesh, keep=keep, log=log, prepare=lambda: registry.remove(
        snapshots.published_dir(mesh), consumer, groups))
