"""The catalog as data: every product version (descriptor records), who consumes
what, the domains, and the column lineage, built from dbt's manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from duckmesh.catalog.built import DatabaseColumns, match_database
from duckmesh.catalog.descriptor import Describer, ProductRecord
from duckmesh.catalog.lineage import MeshLineage, mesh_lineage
from duckmesh.consumers import reads as consumer_reads
from duckmesh.consumers import registry as consumer_registry
from duckmesh.core.products import port_path
from duckmesh.core.project import Mesh, MeshError


@dataclass(frozen=True)
class Consumer:
    consumer_id: str
    consumer_name: str
    consumer_domain: str
    consumer_kind: str  # product (a public model), model (private) or outside (registered)
    product_id: str
    columns: tuple[str, ...]
    owner: str = ""  # "Team <email>" of the consumer's domain or outside project
    reads: str = ""  # latest, or pinned (ref(..., v=N))


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


def published_location(mesh: Mesh, record: ProductRecord) -> str | None:
    """Where the version is published as Parquet, when it is: the port publish writes,
    ``published/<domain>/<product>/v<N>/<product>_v<N>.parquet`` (relative to the mesh)."""
    candidate = Path("published") / port_path(record.domain, record.name, record.version)
    return str(candidate) if (mesh.root / candidate).is_file() else None


def build_catalog(manifest: dict, run_results: dict | None = None,
                  node_columns: dict[str, list[str]] | None = None,
                  db_location: str = "mesh.duckdb", mesh: Mesh | None = None,
                  cache_path: Path | None = None,
                  database: DatabaseColumns | None = None) -> Catalog:
    """The catalog of a manifest; ``cache_path`` keeps per-model column lineage between
    calls (see ``lineage_cache``); with ``database`` (the built relations' columns) only
    the versions that exist, with the columns they have."""
    lineage = mesh_lineage(manifest, node_columns, cache_path)
    describer = Describer(manifest, run_results, lineage)
    records = describer.products()
    if database is not None:
        records = match_database(records, database)
    if mesh is not None:
        for record in records:
            record.parquet_location = published_location(mesh, record)
    by_uid = {r.unique_id: r for r in records}
    owners = consumer_reads.owners(manifest)
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
            pinned = consumer_reads.pinned_version(node, manifest["nodes"][upstream])
            domain = describer.domain_of(node)
            consumers.append(Consumer(
                consumer_id=unique_id, consumer_name=node["name"] + (
                    f"_v{node['version']}" if node.get("version") is not None else ""),
                consumer_domain=domain,
                consumer_kind="product" if node.get("access") == "public" else "model",
                product_id=product.urn, columns=tuple(columns), owner=owners.get(domain, ""),
                reads="latest" if pinned is None else "pinned"))
    if mesh is not None:
        consumers += outside_consumers(mesh, records)
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


def outside_consumers(mesh: Mesh, records: list[ProductRecord]) -> list[Consumer]:
    """The registered outside projects (consumers/*.yml), one entry per version read."""
    found = []
    for read in consumer_registry.load(mesh):
        versions = [r for r in records
                    if r.unique_id.startswith(f"model.{read.package}.{read.product}.")]
        record = next((r for r in versions if (r.version == read.pinned if read.pinned
                                               is not None else r.is_latest)), None)
        if record is None:
            continue
        found.append(Consumer(
            consumer_id=f"outside:{read.consumer}", consumer_name=read.consumer,
            consumer_domain=read.consumer, consumer_kind="outside", product_id=record.urn,
            columns=read.columns, owner=read.owner,
            reads="latest" if read.pinned is None else "pinned"))
    return found
