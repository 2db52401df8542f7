"""The mesh catalog: product descriptors, the `mesh_catalog` schema, `duckmesh catalog`.

After every build (``after_build``) the catalog is rebuilt from dbt's manifest, run
results and the compiled SQL: tables in the ``mesh_catalog`` schema of the DuckDB
file, and one ODCS contract plus one ODPS-style descriptor per product version under
``target/catalog/contracts`` (``DUCKMESH_CATALOG_DIR`` moves it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import dbt
from .descriptor import (Describer, ProductRecord, descriptor_files, odcs_contract,
                         validate_odcs)
from .lineage import MeshLineage, mesh_lineage
from .project import Mesh, MeshError

SCHEMA = "mesh_catalog"

# (table, [(column, DuckDB type)]): the mesh_catalog tables, in creation order
TABLES: dict[str, list[tuple[str, str]]] = {
    "domains": [
        ("domain", "varchar"), ("package", "varchar"), ("owner_name", "varchar"),
        ("owner_email", "varchar"), ("description", "varchar"),
        ("product_count", "integer"), ("version_count", "integer")],
    "products": [
        ("product_id", "varchar"), ("domain", "varchar"), ("product", "varchar"),
        ("version", "integer"), ("latest_version", "integer"), ("is_latest", "boolean"),
        ("status", "varchar"), ("owner_name", "varchar"), ("owner_email", "varchar"),
        ("description", "varchar"), ("relation", "varchar"), ("latest_relation", "varchar"),
        ("parquet_location", "varchar"), ("classification", "varchar"),
        ("lifecycle", "varchar"), ("deprecation_date", "date"),
        ("slo_freshness_hours", "double"), ("slo_min_rows", "bigint"), ("slo", "json"),
        ("tags", "varchar[]"), ("primary_key", "varchar[]"), ("column_count", "integer"),
        ("check_count", "integer"), ("checks_passed", "integer"), ("checks_failed", "integer"),
        ("quality_status", "varchar"), ("row_count", "bigint"), ("example_query", "varchar"),
        ("unique_id", "varchar"), ("odcs_file", "varchar"), ("odps_file", "varchar")],
    "columns": [
        ("product_id", "varchar"), ("domain", "varchar"), ("product", "varchar"),
        ("version", "integer"), ("column_name", "varchar"), ("position", "integer"),
        ("data_type", "varchar"), ("description", "varchar"), ("is_primary_key", "boolean"),
        ("is_not_null", "boolean"), ("is_unique", "boolean"), ("classification", "varchar")],
    "lineage": [
        ("from_id", "varchar"), ("from_kind", "varchar"), ("from_domain", "varchar"),
        ("from_name", "varchar"), ("from_location", "varchar"), ("to_id", "varchar"),
        ("to_domain", "varchar"), ("to_product", "varchar"), ("to_version", "integer")],
    "column_lineage": [
        ("product_id", "varchar"), ("column_name", "varchar"), ("from_id", "varchar"),
        ("from_kind", "varchar"), ("from_column", "varchar")],
    "consumers": [
        ("consumer_id", "varchar"), ("consumer_name", "varchar"),
        ("consumer_domain", "varchar"), ("consumer_kind", "varchar"),
        ("product_id", "varchar"), ("domain", "varchar"), ("product", "varchar"),
        ("version", "integer"), ("column_name", "varchar")],
}


@dataclass(frozen=True)
class Consumer:
    consumer_id: str
    consumer_name: str
    consumer_domain: str
    consumer_kind: str  # product (a public model) or model (private)
    product_id: str
    columns: tuple[str, ...]


@dataclass
class Catalog:
    records: list[ProductRecord]
    consumers: list[Consumer]
    domains: list[dict]
    lineage: MeshLineage
    db_location: str

    def find(self, key: str) -> list[ProductRecord]:
        """Versions of DOMAIN.PRODUCT (or a URN, or a bare product name)."""
        key = key.strip()
        if key.startswith("urn:"):
            return [r for r in self.records if r.urn == key]
        if "." in key:
            domain, name = key.split(".", 1)
            return [r for r in self.records if r.domain == domain and r.name == name]
        return [r for r in self.records if r.name == key]

    def get(self, key: str) -> list[ProductRecord]:
        found = self.find(key)
        if not found:
            known = ", ".join(sorted({r.key for r in self.records}))
            raise MeshError(f"no data product {key!r} in the catalog; use DOMAIN.PRODUCT, "
                            f"one of: {known}")
        return found


# --- building the catalog -----------------------------------------------------------

def db_columns(con: duckdb.DuckDBPyConnection, manifest: dict) -> dict[str, list[str]]:
    """Columns of every built model/seed relation, and of every source it can read."""
    by_relation: dict[tuple[str, str], list[str]] = {}
    rows = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_catalog = current_database() order by table_schema, table_name, "
        "ordinal_position").fetchall()
    for schema, table, column in rows:
        by_relation.setdefault((schema.lower(), table.lower()), []).append(column)
    found: dict[str, list[str]] = {}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] in ("model", "seed"):
            key = (node["schema"].lower(), (node.get("alias") or node["name"]).lower())
            if key in by_relation:
                found[unique_id] = by_relation[key]
    for unique_id, source in manifest.get("sources", {}).items():
        relation = source.get("relation_name")
        if not relation:
            continue
        try:
            described = con.execute(f"describe select * from {relation}").fetchall()
        except duckdb.Error:
            continue  # source files not there (yet): lineage follows `select *` by name
        found[unique_id] = [row[0] for row in described]
    return found


def published_location(mesh: Mesh, record: ProductRecord) -> str | None:
    """Where the version is published as Parquet, when it is.

    Asks ``duckmesh.publish.published_location(mesh, domain, product, version)`` when the
    publishing capability provides it; otherwise looks for
    ``published/<domain>/<product>_v<N>.parquet`` (a file or a folder of files).
    """
    try:
        publish = importlib.import_module("duckmesh.publish")
    except ImportError:
        publish = None
    hook = getattr(publish, "published_location", None)
    if callable(hook):
        location = hook(mesh, record.domain, record.name, record.version)
        return str(location) if location else None
    candidate = mesh.root / "published" / record.domain / f"{record.name}_v{record.version}.parquet"
    return str(candidate.relative_to(mesh.root)) if candidate.exists() else None


def build_catalog(manifest: dict, run_results: dict | None = None,
                  node_columns: dict[str, list[str]] | None = None,
                  db_location: str = "mesh.duckdb", mesh: Mesh | None = None,
                  cache_path: Path | None = None) -> Catalog:
    """The catalog of a manifest; ``cache_path`` keeps per-model column lineage between
    calls (see ``lineage_cache``)."""
    lineage = mesh_lineage(manifest, node_columns, cache_path)
    describer = Describer(manifest, run_results, lineage)
    records = describer.products()
    if mesh is not None:
        for record in records:
            record.parquet_location = published_location(mesh, record)
    by_uid = {r.unique_id: r for r in records}
    consumers = []
    for unique_id, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] != "model":
            continue
        used = lineage.direct.get(unique_id)
        used_by_uid: dict[str, set[str]] = {}
        for uid, col in (used.used if used else set()):
            used_by_uid.setdefault(uid, set()).add(col)
        for upstream in node["depends_on"]["nodes"]:
            product = by_uid.get(upstream)
            if product is None or upstream == unique_id:
                continue
            columns = sorted(used_by_uid.get(upstream, ()))
            consumers.append(Consumer(
                consumer_id=unique_id, consumer_name=node["name"] + (
                    f"_v{node['version']}" if node.get("version") is not None else ""),
                consumer_domain=describer.domain_of(node),
                consumer_kind="product" if node.get("access") == "public" else "model",
                product_id=product.urn, columns=tuple(columns)))
    domains = []
    for group in sorted(manifest.get("groups", {}).values(), key=lambda g: g["name"]):
        mine = [r for r in records if r.domain == group["name"]]
        owner = group.get("owner") or {}
        domains.append({
            "domain": group["name"], "package": group["package_name"],
            "owner_name": owner.get("name"), "owner_email": owner.get("email"),
            "description": " ".join((group.get("description") or "").split()),
            "product_count": len({r.name for r in mine}), "version_count": len(mine)})
    return Catalog(records, consumers, domains, lineage, db_location)


def catalog_rows(catalog: Catalog, row_counts: dict[str, int] | None = None
                 ) -> dict[str, list[dict]]:
    """The mesh_catalog tables as rows."""
    rows: dict[str, list[dict]] = {name: [] for name in TABLES}
    rows["domains"] = catalog.domains
    for r in catalog.records:
        statuses = [c.status for c in r.checks]
        rows["products"].append({
            "product_id": r.urn, "domain": r.domain, "product": r.name, "version": r.version,
            "latest_version": r.latest_version, "is_latest": r.is_latest, "status": r.status,
            "owner_name": r.owner_name, "owner_email": r.owner_email,
            "description": r.description, "relation": r.relation,
            "latest_relation": r.latest_relation if r.is_latest else None,
            "parquet_location": r.parquet_location, "classification": r.classification,
            "lifecycle": r.lifecycle, "deprecation_date": r.deprecation_date,
            "slo_freshness_hours": r.slo.get("freshness_hours"),
            "slo_min_rows": r.slo.get("min_rows"), "slo": json.dumps(r.slo, sort_keys=True),
            "tags": r.tags, "primary_key": r.primary_key, "column_count": len(r.columns),
            "check_count": len(r.checks), "checks_passed": statuses.count("pass"),
            "checks_failed": sum(s in ("fail", "error") for s in statuses),
            "quality_status": r.quality_status,
            "row_count": (row_counts or {}).get(r.relation.lower()),
            "example_query": r.example_query, "unique_id": r.unique_id,
            "odcs_file": f"{r.domain}/{r.name}_v{r.version}.odcs.yaml",
            "odps_file": f"{r.domain}/{r.name}_v{r.version}.odps.yaml"})
        for c in r.columns:
            rows["columns"].append({
                "product_id": r.urn, "domain": r.domain, "product": r.name,
                "version": r.version, "column_name": c.name, "position": c.position,
                "data_type": c.data_type, "description": c.description,
                "is_primary_key": c.primary_key, "is_not_null": c.not_null,
                "is_unique": c.unique, "classification": c.classification or r.classification})
            for from_id, from_column in c.lineage:
                rows["column_lineage"].append({
                    "product_id": r.urn, "column_name": c.name, "from_id": from_id,
                    "from_kind": _kind_of(from_id), "from_column": from_column})
        for port in r.inputs:
            rows["lineage"].append({
                "from_id": port.urn, "from_kind": port.kind, "from_domain": port.domain,
                "from_name": port.name, "from_location": port.relation, "to_id": r.urn,
                "to_domain": r.domain, "to_product": r.name, "to_version": r.version})
    by_urn = {r.urn: r for r in catalog.records}
    for consumer in catalog.consumers:
        product = by_urn[consumer.product_id]
        for column in consumer.columns or (None,):
            rows["consumers"].append({
                "consumer_id": consumer.consumer_id, "consumer_name": consumer.consumer_name,
                "consumer_domain": consumer.consumer_domain,
                "consumer_kind": consumer.consumer_kind, "product_id": product.urn,
                "domain": product.domain, "product": product.name,
                "version": product.version, "column_name": column})
    return rows


def _kind_of(urn: str) -> str:
    parts = urn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] in ("source", "seed") else "product"


def write_tables(con: duckdb.DuckDBPyConnection, rows: dict[str, list[dict]]) -> None:
    """Replace the mesh_catalog tables in one transaction (typed, via NDJSON files)."""
    with tempfile.TemporaryDirectory(prefix="duckmesh-catalog-") as folder:
        files = {}
        for table, data in rows.items():
            path = Path(folder) / f"{table}.json"
            path.write_text("".join(json.dumps(row, default=str) + "\n" for row in data))
            files[table] = path
        con.execute("begin transaction")
        try:
            con.execute(f"create schema if not exists {SCHEMA}")
            for table, columns in TABLES.items():
                ddl = ", ".join(f'"{name}" {kind}' for name, kind in columns)
                con.execute(f"create or replace table {SCHEMA}.{table} ({ddl})")
                if rows[table]:
                    spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns) + "}"
                    names = ", ".join(f'"{name}"' for name, _ in columns)
                    con.execute(f"insert into {SCHEMA}.{table} select {names} from read_json("
                                f"'{files[table]}', format='newline_delimited', "
                                f"columns={spec})")
            con.execute("commit")
        except duckdb.Error:
            con.execute("rollback")
            raise


def write_descriptors(catalog: Catalog, out_dir: Path, validate: bool = True) -> list[Path]:
    """Write every version's ODCS contract and ODPS descriptor; stale files are removed."""
    written: list[Path] = []
    problems: list[str] = []
    expected = generated_files(catalog)
    for relative, text in expected.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    if out_dir.exists():
        for stale in out_dir.rglob("*.yaml"):
            if str(stale.relative_to(out_dir)) not in expected:
                stale.unlink()
    if validate:
        for record in catalog.records:
            errors = validate_odcs(odcs_contract(record, catalog.db_location))
            problems += [f"{record.urn}: {error}" for error in errors]
    if problems:
        raise MeshError("generated ODCS contracts do not validate against the ODCS schema: "
                        + "; ".join(problems[:5]))
    return written


def generated_files(catalog: Catalog) -> dict[str, str]:
    files: dict[str, str] = {}
    for record in catalog.records:
        files.update(descriptor_files(record, catalog.db_location))
    return files


def descriptor_drift(catalog: Catalog, committed_dir: Path) -> list[str]:
    """Differences between committed descriptors and freshly generated ones."""
    expected = generated_files(catalog)
    drift = []
    for relative, text in sorted(expected.items()):
        path = committed_dir / relative
        if not path.exists():
            drift.append(f"missing: {relative}")
        elif path.read_text() != text:
            drift.append(f"changed: {relative}")
    for path in sorted(committed_dir.rglob("*.yaml")) if committed_dir.exists() else []:
        relative = str(path.relative_to(committed_dir))
        if relative not in expected:
            drift.append(f"no longer generated: {relative}")
    return drift


def lineage_cache(mesh: Mesh) -> Path:
    """Column lineage per model, keyed by compiled SQL + upstream schema: a rebuild
    parses only the models whose SQL or inputs changed."""
    return mesh.target_dir / "catalog" / "lineage_cache.json"


def contracts_dir(mesh: Mesh) -> Path:
    override = os.environ.get("DUCKMESH_CATALOG_DIR")
    base = Path(override).resolve() if override else mesh.target_dir / "catalog"
    return base / "contracts"


def db_location(mesh: Mesh) -> str:
    try:
        return str(mesh.db_path.relative_to(mesh.root))
    except ValueError:
        return str(mesh.db_path)


def table_sizes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts of every table ('schema.table'), from DuckDB's metadata (no scan)."""
    return {f"{schema}.{table}".lower(): size for schema, table, size in con.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() "
        "where database_name = current_database()").fetchall()}


def refresh(mesh: Mesh, con: duckdb.DuckDBPyConnection | None = None) -> Catalog:
    """Rebuild the catalog from target/ and the database: tables and descriptors."""
    manifest = dbt.load_manifest(mesh)
    run_results = dbt.load_run_results(mesh)
    own = con is None
    if own:
        if not mesh.db_path.exists():
            raise MeshError(f"{mesh.db_path} not found: run `duckmesh build` first")
        con = duckdb.connect(str(mesh.db_path))  # same config as dbt-duckdb's connection
    try:
        catalog = build_catalog(manifest, run_results, db_columns(con, manifest),
                                db_location(mesh), mesh, lineage_cache(mesh))
        write_tables(con, catalog_rows(catalog, table_sizes(con)))
    finally:
        if own:
            con.close()
    # ODCS schema validation is not on the per-build path: `catalog check`, `catalog
    # export` and the tests validate
    write_descriptors(catalog, contracts_dir(mesh), validate=False)
    return catalog


def after_build(context) -> None:  # context: duckmesh.build.BuildContext
    """After-build step: the mesh_catalog tables and the product descriptors."""
    if not context.mesh.manifest_path.exists():
        return
    try:
        catalog = refresh(context.mesh)
    except duckdb.Error as error:
        raise MeshError(f"catalog: could not write {SCHEMA} tables: {error}") from error
    print(f"      catalog: {len(catalog.records)} product versions -> {SCHEMA}.*, "
          f"contracts in {dbt.relative(contracts_dir(context.mesh), context.mesh.root)}",
          flush=True)


def load(mesh: Mesh) -> Catalog:
    """The catalog for reading (CLI, site): from target/ and the built database."""
    manifest = dbt.load_manifest(mesh)
    node_columns: dict[str, list[str]] = {}
    if mesh.db_path.exists():
        try:
            with duckdb.connect(str(mesh.db_path), read_only=True) as con:
                node_columns = db_columns(con, manifest)
        except duckdb.Error:
            node_columns = {}  # database busy or unreadable: lineage by column name
    return build_catalog(manifest, dbt.load_run_results(mesh), node_columns,
                         db_location(mesh), mesh, lineage_cache(mesh))


# --- CLI ------------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "catalog", help="discover data products: list, search, show, lineage, site",
        description="The mesh catalog, from the last build: every public product version "
                    "with its owner, schema, SLOs, quality checks and lineage. The same "
                    f"data is in the {SCHEMA} schema of the database.")
    commands = parser.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND")
    listing = commands.add_parser("list", help="every product version")
    listing.add_argument("--domain", help="only this domain")
    search = commands.add_parser("search", help="products whose name, description, "
                                                "owner, tags or columns match TEXT")
    search.add_argument("text")
    show = commands.add_parser("show", help="one product: versions, owner, schema, SLOs")
    show.add_argument("product", metavar="DOMAIN.PRODUCT")
    show.add_argument("--version", type=int, help="one version (default: latest)")
    lineage = commands.add_parser("lineage", help="what feeds a product / what it feeds")
    lineage.add_argument("product", metavar="DOMAIN.PRODUCT")
    direction = lineage.add_mutually_exclusive_group()
    direction.add_argument("--upstream", action="store_true", help="only what it reads")
    direction.add_argument("--downstream", action="store_true", help="only who reads it")
    lineage.add_argument("--columns", action="store_true", help="column-level lineage")
    export = commands.add_parser("export", help="write ODCS + ODPS descriptors to a folder")
    export.add_argument("--out", type=Path, help="folder (default target/catalog/contracts)")
    check = commands.add_parser(
        "check", help="fail when committed descriptors drift from the generated ones")
    check.add_argument("folder", type=Path, help="the committed descriptors, e.g. contracts/")
    site = commands.add_parser("site", help="write the static HTML catalog site")
    site.add_argument("--out", type=Path, help="folder (default target/catalog/site)")
    refresh_cmd = commands.add_parser(
        "refresh", help=f"rebuild the {SCHEMA} tables and descriptors from target/")
    for sub in (listing, search, show, lineage, export, check, site, refresh_cmd):
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from . import catalog_cli

    return catalog_cli.run(args)
