"""Data products as read from dbt's manifest: every public model version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from duckmesh.core import builddb
from duckmesh.core.sql import qualified_name


@dataclass(frozen=True)
class ProductVersion:
    unique_id: str
    domain: str  # the owning group (one group per domain)
    package: str
    name: str
    version: int | None
    latest_version: int | None
    schema: str
    relation_name: str  # <product>_v<N>
    deprecation_date: str | None
    description: str
    database: str = ""  # dbt's database: "products" for the products file (core/builddb.py)

    @property
    def key(self) -> str:
        return f"{self.domain}.{self.name}"

    @property
    def is_latest(self) -> bool:
        return self.version is not None and self.version == self.latest_version

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.relation_name}"


def port_path(domain: str, name: str, version: int | None) -> Path:
    """A product version's Parquet port under a snapshot (``ports/...``) and, through the
    stable link ``published/<domain>``, under ``published/``: <domain>/<name>/v<N>/<name>_v<N>.parquet."""
    return Path(domain) / name / f"v{version}" / f"{name}_v{version}.parquet"


def public_products(manifest: dict) -> list[ProductVersion]:
    products = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node.get("access") != "public":
            continue
        version = node.get("version")
        latest = node.get("latest_version")
        products.append(ProductVersion(
            unique_id=node["unique_id"],
            domain=node.get("group") or node["package_name"],
            package=node["package_name"],
            name=node["name"],
            version=int(version) if version is not None else None,
            latest_version=int(latest) if latest is not None else None,
            schema=node["schema"],
            relation_name=node.get("alias") or node["name"],
            deprecation_date=node.get("deprecation_date"),
            description=node.get("description", ""),
            database=node.get("database") or "",
        ))
    return sorted(products, key=lambda p: (p.domain, p.name, p.version or 0))


def row_counts(db_path: Path, products: list[ProductVersion],
               con: duckdb.DuckDBPyConnection | None = None) -> dict[str, int | None]:
    """Rows per product relation (None when the relation is missing); ``con``: an open
    connection to ``db_path`` to use (and leave open)."""
    counts: dict[str, int | None] = {}
    own = con is None
    # same configuration as the dbt-duckdb connection still open in this process
    con = con or builddb.connect(db_path)
    try:
        existing = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables").fetchall()
        }
        for product in products:
            if product.relation in existing:
                query = f"select count(*) from {qualified_name(product.schema, product.relation_name)}"
                counts[product.relation] = con.execute(query).fetchall()[0][0]
            else:
                counts[product.relation] = None
    finally:
        if own:
            con.close()
    return counts


def primary_key(node: dict) -> tuple[str, ...]:
    """A manifest node's primary key columns: the model-level constraint, else the first
    column-level one; () when it declares none."""
    for constraint in node.get("constraints") or []:
        if constraint.get("type") == "primary_key" and constraint.get("columns"):
            return tuple(constraint["columns"])
    for column in (node.get("columns") or {}).values():
        for constraint in column.get("constraints") or []:
            if constraint.get("type") == "primary_key":
                return (column["name"],)
    return ()
