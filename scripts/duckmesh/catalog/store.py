"""The mesh catalog: product descriptors, the `mesh_catalog` schema, `duckmesh catalog`.

After every build (``after_build``) the catalog is rebuilt from dbt's manifest, run
results and the compiled SQL: tables in the ``mesh_catalog`` schema of the DuckDB
file, and one ODCS contract plus one ODPS-style descriptor per product version under
``target/catalog/contracts`` (``DUCKMESH_CATALOG_DIR`` moves it).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import duckdb

from duckmesh.catalog import built, openlineage
from duckmesh.catalog.model import Catalog, build_catalog
from duckmesh.catalog.odcs import odcs_contract, validate_odcs
from duckmesh.catalog.odps import descriptor_files, odps_product, validate_odps
from duckmesh.core import builddb
from duckmesh.core.artifacts import Artifacts
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.core.sql import quote_ident, sql_path

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
        ("version", "integer"), ("column_name", "varchar"), ("consumer_owner", "varchar"),
        ("reads", "varchar")],
}


# --- building the catalog -----------------------------------------------------------

def db_columns(con: duckdb.DuckDBPyConnection, manifest: dict,
               described: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Columns of every built model/seed relation, and of every source it can read
    (``described``: source relation -> columns already described in this build, filled
    with the ones described now; a source's files do not change after dbt ran)."""
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
        if described is not None and relation in described:
            found[unique_id] = described[relation]
            continue
        try:
            rows = con.execute(f"describe select * from {relation}").fetchall()
        except duckdb.Error:
            continue  # source files not there (yet): lineage follows `select *` by name
        found[unique_id] = [row[0] for row in rows]
        if described is not None:
            described[relation] = found[unique_id]
    return found


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
            "slo_min_rows": r.slo.get("min_rows"), "slo": r.slo,  # a JSON object, not a string
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
                "version": product.version, "column_name": column,
                "consumer_owner": consumer.owner, "reads": consumer.reads})
    return rows


def _kind_of(urn: str) -> str:
    parts = urn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] in ("source", "seed") else "product"


def public_rows(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The catalog rows a consumer may see (the published snapshot's copy): a private
    model that reads a product is named by its domain only (``consumer_id`` and
    ``consumer_name`` empty, kind ``private model``); products' row counts and Parquet
    locations are left to the snapshot (``for_snapshot``)."""
    consumers: list[dict] = []
    for row in rows["consumers"]:
        if row["consumer_kind"] == "model":
            row = {**row, "consumer_id": None, "consumer_name": None,
                   "consumer_kind": "private model"}
        if row not in consumers:
            consumers.append(row)
    products = [{**row, "row_count": None, "parquet_location": None}
                for row in rows["products"]]
    return {**rows, "products": products, "consumers": consumers}


def rows_digest(rows: dict[str, list[dict]]) -> str:
    """SHA-256 of catalog rows, in any order: a snapshot whose catalog would differ is
    written anew."""
    text = json.dumps({table: sorted(json.dumps(row, sort_keys=True, default=str)
                                     for row in data) for table, data in rows.items()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def for_snapshot(rows: dict[str, list[dict]], published: dict[str, tuple[int, str]]
                 ) -> dict[str, list[dict]]:
    """``public_rows`` for a snapshot holding ``published`` (relation -> its rows and
    its Parquet port under published/): only those product versions, each with the
    rows and port the snapshot holds."""
    wanted = {r.lower(): value for r, value in published.items()}
    products = [{**row, "row_count": wanted[row["relation"].lower()][0],
                 "parquet_location": wanted[row["relation"].lower()][1]}
                for row in rows["products"] if row["relation"].lower() in wanted]
    kept = {row["product_id"] for row in products}
    return {"domains": rows["domains"], "products": products,
            "columns": [r for r in rows["columns"] if r["product_id"] in kept],
            "lineage": [r for r in rows["lineage"] if r["to_id"] in kept],
            "column_lineage": [r for r in rows["column_lineage"] if r["product_id"] in kept],
            "consumers": [r for r in rows["consumers"] if r["product_id"] in kept]}


def snapshot_rows(mesh: Mesh, con: duckdb.DuckDBPyConnection, artifacts: Artifacts,
                  source_columns: dict[str, list[str]] | None = None
                  ) -> dict[str, list[dict]]:
    """The catalog of the build a publish is about to publish (``con``: the build's
    database, current), as consumers may see it (``public_rows``)."""
    catalog = _catalog(mesh, con, artifacts, record=False, source_columns=source_columns)
    return public_rows(catalog_rows(catalog))


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
                ddl = ", ".join(f"{quote_ident(name)} {kind}" for name, kind in columns)
                con.execute(f"create or replace table {SCHEMA}.{table} ({ddl})")
                if rows[table]:
                    spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns) + "}"
                    names = ", ".join(quote_ident(name) for name, _ in columns)
                    con.execute(f"insert into {SCHEMA}.{table} select {names} from read_json("
                                f"{sql_path(files[table])}, format='newline_delimited', "
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
    for name, text in expected.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    if out_dir.exists():
        for stale in out_dir.rglob("*.yaml"):
            if str(stale.relative_to(out_dir)) not in expected:
                stale.unlink()
    if validate:
        problems = schema_problems(catalog)
    if problems:
        raise MeshError("generated descriptors do not validate against the ODCS v3 and "
                        "ODPS v1.0.0 schemas: " + "; ".join(problems[:5]))
    return written


def schema_problems(catalog: Catalog) -> list[str]:
    """Every ODCS contract against the ODCS v3 schema and every ODPS descriptor against
    the ODPS v1.0.0 schema: '<urn> (ODCS|ODPS): <path>: <message>'."""
    problems = []
    for record in catalog.records:
        problems += [f"{record.urn} (ODCS): {error}" for error in
                     validate_odcs(odcs_contract(record, catalog.db_location))]
        contract_file = f"{record.name}_v{record.version}.odcs.yaml"
        problems += [f"{record.urn} (ODPS): {error}" for error in
                     validate_odps(odps_product(record, contract_file))]
    return problems


def generated_files(catalog: Catalog) -> dict[str, str]:
    files: dict[str, str] = {}
    for record in catalog.records:
        files.update(descriptor_files(record, catalog.db_location))
    return files


def descriptor_drift(catalog: Catalog, committed_dir: Path) -> list[str]:
    """Differences between committed descriptors and freshly generated ones."""
    expected = generated_files(catalog)
    drift = []
    for name, text in sorted(expected.items()):
        path = committed_dir / name
        if not path.exists():
            drift.append(f"missing: {name}")
        elif path.read_text() != text:
            drift.append(f"changed: {name}")
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
    base = mesh.settings.catalog_dir or mesh.target_dir / "catalog"
    return base / "contracts"


def db_location(mesh: Mesh) -> str:
    try:
        return str(mesh.db_path.relative_to(mesh.root))
    except ValueError:
        return str(mesh.db_path)


def table_sizes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts of every table ('schema.table'), from DuckDB's metadata (no scan): the
    mesh database's and its products file's (core/builddb.py)."""
    return {f"{schema}.{table}".lower(): size for schema, table, size in con.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() "
        "where database_name in (current_database(), ?)", [builddb.PRODUCTS]).fetchall()}


def last_good_file(mesh: Mesh) -> Path:
    """Each model's node as of the last run in which it built (see catalog.built)."""
    return mesh.target_dir / "catalog" / "last_good_nodes.json"


def _catalog(mesh: Mesh, con: duckdb.DuckDBPyConnection | None, artifacts: Artifacts,
             record: bool, source_columns: dict[str, list[str]] | None = None) -> Catalog:
    """The catalog of what the database holds: models as of their last successful
    build, product versions as their relations are (``record``: remember this run's
    successful builds)."""
    kept = built.read_kept(last_good_file(mesh))
    manifest, kept = built.as_built(artifacts.manifest, artifacts.run_results, kept)
    if record:
        built.write_kept(last_good_file(mesh), kept)
    node_columns = db_columns(con, manifest, source_columns) if con is not None else {}
    database = built.database_columns(con) if con is not None else None
    return build_catalog(manifest, artifacts.run_results, node_columns, db_location(mesh),
                         mesh, lineage_cache(mesh), database)


def refresh(mesh: Mesh, con: duckdb.DuckDBPyConnection | None = None,
            artifacts: Artifacts | None = None,
            source_columns: dict[str, list[str]] | None = None) -> Catalog:
    """Rebuild the catalog from the last build's artifacts and the database: tables
    and descriptors (``source_columns``: db_columns' ``described``)."""
    artifacts = artifacts or Artifacts.load(mesh)
    own = con is None
    if con is None:
        if not mesh.db_path.exists():
            raise MeshError(f"{mesh.db_path} not found: run `duckmesh build` first")
        con = builddb.connect(mesh.db_path)  # same config as dbt-duckdb's connection
    try:
        catalog = _catalog(mesh, con, artifacts, record=True, source_columns=source_columns)
        write_tables(con, catalog_rows(catalog, table_sizes(con)))
    finally:
        if own:
            con.close()
    # ODCS schema validation is not on the per-build path: `catalog check`, `catalog
    # export` and the tests validate
    write_descriptors(catalog, contracts_dir(mesh), validate=False)
    return catalog


def after_build(context: BuildContext) -> None:
    """After-build step: the mesh_catalog tables and the product descriptors."""
    if not context.mesh.manifest_path.exists():
        return
    try:
        catalog = refresh(context.mesh, context.database(), artifacts=context.artifacts,
                          source_columns=context.source_columns)
    except duckdb.Error as error:
        raise MeshError(f"catalog: could not write {SCHEMA} tables: {error}") from error
    console().step(f"      catalog: {len(catalog.records)} product versions -> {SCHEMA}.*, "
                   f"contracts in {relative(contracts_dir(context.mesh), context.mesh.root)}")
    if openlineage.enabled():
        try:
            artifacts = context.artifacts or Artifacts.load(context.mesh)
            sent = openlineage.emit(context.mesh, catalog, artifacts.run_results)
        except MeshError as error:  # the build itself is done: lineage is reported, not fatal
            console().warn(f"      warning: {error}", err=False)
        else:
            console().step(f"      OpenLineage: {sent.events} events ({sent.products} product "
                           f"runs) -> {sent.where}")


def load(mesh: Mesh) -> Catalog:
    """The catalog for reading (CLI, site): from the last build's artifacts and the
    built database (without it, or while a build holds it: as the manifest says)."""
    artifacts = Artifacts.load(mesh)
    if mesh.db_path.exists():
        try:
            with builddb.connect(mesh.db_path, read_only=True) as con:
                return _catalog(mesh, con, artifacts, record=False)
        except duckdb.Error:
            pass  # database busy or unreadable: lineage by column name
    return _catalog(mesh, None, artifacts, record=False)


# --- CLI ------------------------------------------------------------------------------
