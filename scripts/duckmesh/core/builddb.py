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

