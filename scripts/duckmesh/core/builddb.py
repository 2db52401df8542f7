"""The build's database: the mesh's file (``DUCKMESH_DB``, default ``mesh.duckdb``) and,
beside it, the products file (``mesh.products.duckdb``) that the profile attaches as
``products``. dbt builds every data product into the products file
(macros/products/generate_database_name.sql) and, after each command, leaves a view at
the product's address in the mesh's file (macros/products/forward_products.sql), so
``sales.orders_v1`` reads the same rows in both. Every
connection the platform opens on the build's database goes through ``connect`` (or
``attach_products``), so those views resolve as they do in dbt's own connection."""

from __future__ import annotations

from pathlib import Path

import duckdb

from duckmesh.core.sql import sql_path

PRODUCTS = "products"  # the alias profiles/profiles.yml attaches the products file as


def products_path(db_path: Path) -> Path:
    """The products file beside ``db_path``: mesh.duckdb -> mesh.products.duckdb (the
    rule the profile's `attach` path follows)."""
    name = db_path.name.removesuffix(".duckdb")
    return db_path.with_name(f"{name}.{PRODUCTS}.duckdb")


def attach_products(con: duckdb.DuckDBPyConnection, db_path: Path,
                    read_only: bool = False) -> bool:
    """Attach the products file of the build database ``db_path`` as ``products``
    (nothing when the build wrote none, or when this process's dbt connection has it
    attached already); return whether it is attached."""
    path = products_path(db_path)
    if not path.exists():
        return False
    mode = " (read_only)" if read_only else ""
    con.execute(f"attach if not exists {sql_path(path)} as {PRODUCTS}{mode}")
    return True


def connect(db_path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the build database with its products attached. In the build's own
    process this is dbt-duckdb's database (same file, same configuration)."""
    con = duckdb.connect(str(db_path), read_only=read_only)
    try:
        attach_products(con, db_path, read_only)
    except duckdb.Error:
        con.close()
        raise
    return con


# -- manifests: where a product is recorded -----------------------------------------------

def served(manifest: dict, main: str) -> dict:
    """``manifest`` with the nodes built into the products file (core/builddb.py)
    recorded in the build's own database (``main``: dbt-duckdb names it after the file),
    as before products had a file of their own:
    their ``database``, their ``relation_name`` and the compiled SQL that names them. A
    snapshot's ``mesh.duckdb`` holds the products, and outside projects attach it under
    the name the manifest records (docs/sharing.md), so their profiles stay valid."""
    moved = [u for u, n in manifest["nodes"].items() if n.get("database") == PRODUCTS]
    if not moved:
        return manifest
    before, after = f'"{PRODUCTS}".', f'"{main}".'
    nodes = {}
    for unique_id, node in manifest["nodes"].items():
        if before not in (node.get("relation_name") or "") + (node.get("compiled_code") or ""):
            nodes[unique_id] = node
            continue
        nodes[unique_id] = {
            **node, "database": main if unique_id in moved else node.get("database"),
            **{key: node[key].replace(before, after) for key in ("relation_name", "compiled_code")
               if node.get(key)}}
    return {**manifest, "nodes": nodes}


def relation_renames(earlier: dict, nodes: dict) -> dict[str, str]:
    """Each relation name an ``earlier`` manifest's nodes (a published one: ``served``)
    give differently from ``nodes`` (this build's): earlier name -> this build's."""
    renames = {}
    for unique_id, node in nodes.items():
        before = (earlier.get(unique_id) or {}).get("relation_name")
        now = node.get("relation_name")
        if before and now and before != now:
            renames[before] = now
    return renames


def renamed(sql: str, renames: dict[str, str]) -> str:
    """Compiled SQL of an earlier manifest naming relations as this build does."""
    for before, now in renames.items():
        sql = sql.replace(before, now)
    return sql
