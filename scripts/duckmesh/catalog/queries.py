"""Questions asked of the catalog: list, search, one product's card, lineage walks."""

from __future__ import annotations

from dataclasses import dataclass

from duckmesh.catalog.descriptor import ProductRecord
from duckmesh.catalog.model import Catalog
from duckmesh.core.output import format_table
from duckmesh.core.project import MeshError


@dataclass(frozen=True)
class Edge:
    depth: int
    direction: str  # upstream | downstream
    from_id: str
    from_kind: str
    to_id: str
    to_kind: str


def summary(record: ProductRecord) -> dict:
    return {"id": record.urn, "domain": record.domain, "product": record.name,
            "version": record.version, "latest": record.is_latest, "status": record.status,
            "owner": record.owner_name, "owner_email": record.owner_email,
            "relation": record.relation, "classification": record.classification,
            "deprecation_date": record.deprecation_date,
            "quality_status": record.quality_status, "description": record.description}


def table(records: list[ProductRecord]) -> str:
    rows = [[r.domain, r.name, f"v{r.version}" + (" (latest)" if r.is_latest else ""),
             r.status + (f" until {r.deprecation_date}" if r.deprecation_date else ""),
             r.owner_name, r.quality_status or "-", r.relation] for r in records]
    return format_table(["domain", "product", "version", "status", "owner", "quality",
                         "relation"], rows)


def listing(catalog: Catalog, domain: str | None) -> list[ProductRecord]:
    records = [r for r in catalog.records if not domain or r.domain == domain]
    if domain and not records:
        domains = ", ".join(d["domain"] for d in catalog.domains)
        raise MeshError(f"no domain {domain!r} with products; domains: {domains}")
    return records


def search(catalog: Catalog, text: str) -> list[ProductRecord]:
    """Versions whose name, domain, description, owner, tags or columns contain every word."""
    words = text.lower().split()
    found = []
    for r in catalog.records:
        haystack = " ".join([r.key, r.urn, r.description, r.owner_name, r.owner_email,
                             r.classification or "", " ".join(r.tags),
                             *(f"{c.name} {c.description}" for c in r.columns)]).lower()
        if all(word in haystack for word in words):
            found.append(r)
    return found


def pick(catalog: Catalog, key: str, version: int | None) -> ProductRecord:
    versions = catalog.get(key)
    if version is None:
        return next((r for r in versions if r.is_latest), versions[-1])
    for record in versions:
        if record.version == version:
            return record
    raise MeshError(f"{key} has no version {version}; versions: "
                    + ", ".join(f"v{r.version}" for r in versions))


def detail(catalog: Catalog, record: ProductRecord) -> dict:
    versions = catalog.find(record.key)
    consumers = [c for c in catalog.consumers if c.product_id == record.urn]
    return {
        **summary(record), "latest_relation": record.latest_relation,
        "parquet_location": record.parquet_location, "slo": record.slo,
        "tags": record.tags, "primary_key": record.primary_key,
        "versions": [{"version": v.version, "status": v.status, "relation": v.relation,
                      "deprecation_date": v.deprecation_date} for v in versions],
        "columns": [{"name": c.name, "data_type": c.data_type, "description": c.description,
                     "primary_key": c.primary_key, "not_null": c.not_null,
                     "lineage": [f"{u}#{col}" for u, col in c.lineage]}
                    for c in record.columns],
        "quality_checks": [{"name": c.name, "test": c.test, "column": c.column,
                            "status": c.status} for c in record.checks],
        "inputs": [{"id": p.urn, "kind": p.kind, "location": p.relation}
                   for p in record.inputs],
        "consumers": [{"id": c.consumer_id, "name": c.consumer_name,
                       "domain": c.consumer_domain, "columns": list(c.columns),
                       "kind": c.consumer_kind, "owner": c.owner, "reads": c.reads}
                      for c in consumers],
        "example_query": record.example_query,
    }


def show_text(record: ProductRecord, data: dict) -> str:
    """`catalog show` for people: the product's card and its columns."""
    lines = [f"{record.key} v{record.version}  ({record.urn})",
             f"  {record.description}",
             f"  owner:    {record.owner_name} <{record.owner_email}>",
             f"  status:   {record.status}"
             + (f" (deprecated, removed after {record.deprecation_date})"
                if record.deprecation_date else ""),
             f"  relation: {record.relation}"
             + (f" (latest: {record.latest_relation})" if record.is_latest else ""),
             "  versions: " + ", ".join(f"v{v['version']} {v['status']}"
                                         for v in data["versions"]),
             "  SLOs:     " + (", ".join(f"{k}={v}" for k, v in sorted(record.slo.items()))
                                or "none"),
             f"  quality:  {record.quality_status or 'not run'} "
             f"({len(record.checks)} checks)",
             "  inputs:   " + (", ".join(p.urn for p in record.inputs) or "none"),
             f"  example:  {record.example_query}", ""]
    rows = [[c.name, c.data_type, "pk" if c.primary_key else ("not null" if c.not_null else ""),
             c.description or "-"] for c in record.columns]
    lines.append(format_table(["column", "type", "keys", "description"], rows))
    consumers = [c for c in data["consumers"] if c["kind"] != "outside"]
    outside = [c for c in data["consumers"] if c["kind"] == "outside"]
    lines += ["", f"consumers ({len(consumers)}): the models that read this version"]
    if consumers:
        lines.append(format_table(
            ["consumer", "domain", "columns it reads"],
            [[c["name"], c["domain"] or "-", ", ".join(c["columns"]) or "-"]
             for c in consumers]))
    else:
        lines.append("  none yet")
    if outside:
        lines += ["", f"outside consumers ({len(outside)}): registered projects "
                      f"(duckmesh consumer list {record.key})",
                  format_table(["consumer", "owner", "reads", "columns it reads"],
                               [[c["name"], c["owner"] or "-", c["reads"],
                                 ", ".join(c["columns"]) or "-"] for c in outside])]
    lines.append(f"\ncolumn lineage: ./duckmesh catalog lineage {record.key} --columns")
    return "\n".join(lines)


def short(urn: str) -> str:
    """One naming for everything lineage shows, from the URN: a product version
    urn:duckmesh:sales:orders:v2 -> sales.orders_v2; sources, seeds and private models
    keep their kind (sales.source:order_system.orders, analytics.model:int_x)."""
    parts = urn.split(":")
    if len(parts) == 5 and parts[3] in ("source", "seed", "model"):
        return f"{parts[2]}.{parts[3]}:{parts[4]}"
    if len(parts) == 5:
        return f"{parts[2]}.{parts[3]}_{parts[4]}"
    return urn


def model_urn(domain: str, name: str) -> str:
    """A private model that reads a product: urn:duckmesh:<domain>:model:<name>."""
    return f"urn:duckmesh:{domain}:model:{name}"


def lineage_edges(catalog: Catalog, record: ProductRecord, upstream: bool = True,
                  downstream: bool = True) -> list[Edge]:
    """Every edge up to the sources and down to the last reader, upstream first, each
    direction by depth (then by the names), every end named by its URN."""
    by_urn = {r.urn: r for r in catalog.records}
    edges: set[Edge] = set()
    if upstream:
        frontier, seen, depth = [record], {record.urn}, 1
        while frontier:
            following = []
            for current in frontier:
                for port in current.inputs:
                    edges.add(Edge(depth, "upstream", port.urn, port.kind, current.urn,
                                   "product"))
                    if port.urn in by_urn and port.urn not in seen:
                        seen.add(port.urn)
                        following.append(by_urn[port.urn])
            frontier, depth = following, depth + 1
    if downstream:
        readers: dict[str, list[ProductRecord]] = {}
        for r in catalog.records:
            for port in r.inputs:
                readers.setdefault(port.urn, []).append(r)
        frontier, seen, depth = [record], {record.urn}, 1
        while frontier:
            following = []
            for current in frontier:
                for reader in readers.get(current.urn, []):
                    edges.add(Edge(depth, "downstream", current.urn, "product",
                                   reader.urn, "product"))
                    if reader.urn not in seen:
                        seen.add(reader.urn)
                        following.append(reader)
            frontier, depth = following, depth + 1
        for consumer in catalog.consumers:
            if consumer.product_id == record.urn and consumer.consumer_kind == "model":
                edges.add(Edge(1, "downstream", record.urn, "product",
                               model_urn(consumer.consumer_domain, consumer.consumer_name),
                               "model"))
    return sorted(edges, key=lambda e: (e.direction != "upstream", e.depth, short(e.from_id),
                                        short(e.to_id)))
