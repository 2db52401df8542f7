"""`duckmesh catalog …` handlers: readable tables for people, --json for machines."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from . import catalog as cat
from .descriptor import ProductRecord
from .products import format_table
from .project import MeshError, find_mesh


@dataclass(frozen=True)
class Edge:
    depth: int
    direction: str  # upstream | downstream
    from_id: str
    from_kind: str
    to_id: str
    to_kind: str


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "catalog_command", None)
    if not command:
        raise MeshError("choose a subcommand: list, search, show, lineage, export, check, "
                        "site, refresh (see `duckmesh catalog --help`)")
    mesh = find_mesh(args.project_dir)
    if command == "refresh":
        catalog = cat.refresh(mesh)
        return _emit(args, {"product_versions": len(catalog.records)},
                     f"{len(catalog.records)} product versions -> {cat.SCHEMA}.*")
    catalog = cat.load(mesh)
    handlers = {"list": _list, "search": _search, "show": _show, "lineage": _lineage,
                "export": _export, "check": _check, "site": _site}
    return handlers[command](args, mesh, catalog)


def _emit(args: argparse.Namespace, data: object, text: str) -> int:
    print(json.dumps(data, indent=2, default=str) if args.json else text)
    return 0


def summary(record: ProductRecord) -> dict:
    return {"id": record.urn, "domain": record.domain, "product": record.name,
            "version": record.version, "latest": record.is_latest, "status": record.status,
            "owner": record.owner_name, "owner_email": record.owner_email,
            "relation": record.relation, "classification": record.classification,
            "deprecation_date": record.deprecation_date,
            "quality_status": record.quality_status, "description": record.description}


def _table(records: list[ProductRecord]) -> str:
    rows = [[r.domain, r.name, f"v{r.version}" + (" (latest)" if r.is_latest else ""),
             r.status + (f" until {r.deprecation_date}" if r.deprecation_date else ""),
             r.owner_name, r.quality_status or "-", r.relation] for r in records]
    return format_table(["domain", "product", "version", "status", "owner", "quality",
                         "relation"], rows)


def _list(args, mesh, catalog: cat.Catalog) -> int:
    records = [r for r in catalog.records if not args.domain or r.domain == args.domain]
    if args.domain and not records:
        domains = ", ".join(d["domain"] for d in catalog.domains)
        raise MeshError(f"no domain {args.domain!r} with products; domains: {domains}")
    return _emit(args, [summary(r) for r in records], _table(records))


def search(catalog: cat.Catalog, text: str) -> list[ProductRecord]:
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


def _search(args, mesh, catalog: cat.Catalog) -> int:
    found = search(catalog, args.text)
    text = _table(found) if found else f"no product matches {args.text!r}"
    return _emit(args, [summary(r) for r in found], text)


def _pick(catalog: cat.Catalog, key: str, version: int | None) -> ProductRecord:
    versions = catalog.get(key)
    if version is None:
        return next((r for r in versions if r.is_latest), versions[-1])
    for record in versions:
        if record.version == version:
            return record
    raise MeshError(f"{key} has no version {version}; versions: "
                    + ", ".join(f"v{r.version}" for r in versions))


def detail(catalog: cat.Catalog, record: ProductRecord) -> dict:
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
                       "domain": c.consumer_domain, "columns": list(c.columns)}
                      for c in consumers],
        "example_query": record.example_query,
    }


def _show(args, mesh, catalog: cat.Catalog) -> int:
    record = _pick(catalog, args.product, args.version)
    data = detail(catalog, record)
    lines = [f"{record.key} v{record.version}  ({record.urn})",
             f"  {record.description}",
             f"  owner:    {record.owner_name} <{record.owner_email}>",
             f"  status:   {record.status}"
             + (f" (deprecated, removed after {record.deprecation_date})"
                if record.deprecation_date else ""),
             f"  relation: {record.relation}"
             + (f" (latest: {record.latest_relation})" if record.is_latest else ""),
             f"  versions: " + ", ".join(f"v{v['version']} {v['status']}"
                                         for v in data["versions"]),
             f"  SLOs:     " + (", ".join(f"{k}={v}" for k, v in sorted(record.slo.items()))
                                or "none"),
             f"  quality:  {record.quality_status or 'not run'} "
             f"({len(record.checks)} checks)",
             f"  inputs:   " + (", ".join(p.urn for p in record.inputs) or "none"),
             f"  example:  {record.example_query}", ""]
    rows = [[c.name, c.data_type, "pk" if c.primary_key else ("not null" if c.not_null else ""),
             ", ".join(f"{_short(u)}.{col}" for u, col in c.lineage) or "-"]
            for c in record.columns]
    lines.append(format_table(["column", "type", "keys", "fed by"], rows))
    return _emit(args, data, "\n".join(lines))


def _short(urn: str) -> str:
    """urn:duckmesh:sales:orders:v2 -> sales.orders_v2; sources keep their kind."""
    parts = urn.split(":")
    if len(parts) == 5 and parts[3] in ("source", "seed"):
        return f"{parts[2]}.{parts[3]}:{parts[4]}"
    if len(parts) == 5:
        return f"{parts[2]}.{parts[3]}_{parts[4]}"
    return urn


def lineage_edges(catalog: cat.Catalog, record: ProductRecord, upstream: bool = True,
                  downstream: bool = True) -> list[Edge]:
    by_urn = {r.urn: r for r in catalog.records}
    edges: list[Edge] = []
    if upstream:
        frontier, seen, depth = [record], {record.urn}, 1
        while frontier:
            following = []
            for current in frontier:
                for port in current.inputs:
                    edges.append(Edge(depth, "upstream", port.urn, port.kind, current.urn,
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
                    edges.append(Edge(depth, "downstream", current.urn, "product",
                                      reader.urn, "product"))
                    if reader.urn not in seen:
                        seen.add(reader.urn)
                        following.append(reader)
            frontier, depth = following, depth + 1
        for consumer in catalog.consumers:
            if consumer.product_id == record.urn and consumer.consumer_kind == "model":
                edges.append(Edge(1, "downstream", record.urn, "product",
                                  consumer.consumer_id, "model"))
    return edges


def _lineage(args, mesh, catalog: cat.Catalog) -> int:
    record = _pick(catalog, args.product, None)
    if args.columns:
        rows = [[c.name, f"{_short(u)}.{col}"] for c in record.columns for u, col in c.lineage]
        data = [{"column": c.name, "from": [f"{u}#{col}" for u, col in c.lineage]}
                for c in record.columns]
        return _emit(args, data, format_table(["column", "fed by"], rows))
    edges = lineage_edges(catalog, record, upstream=not args.downstream,
                          downstream=not args.upstream)
    rows = [[e.direction, str(e.depth), f"{_short(e.from_id)} ({e.from_kind})",
             f"{_short(e.to_id)} ({e.to_kind})"] for e in edges]
    text = (format_table(["direction", "depth", "from", "to"], rows) if rows
            else f"{record.key}: no lineage edges")
    return _emit(args, [e.__dict__ for e in edges], text)


def _export(args, mesh, catalog: cat.Catalog) -> int:
    out = args.out or cat.contracts_dir(mesh)
    written = cat.write_descriptors(catalog, out.resolve())
    return _emit(args, [str(p) for p in written],
                 f"{len(written)} descriptors ({len(catalog.records)} product versions, "
                 f"ODCS + ODPS) in {out}")


def _check(args, mesh, catalog: cat.Catalog) -> int:
    folder: Path = args.folder.resolve()
    if not folder.is_dir():
        raise MeshError(f"{folder} is not a folder of committed descriptors; create it "
                        f"with `duckmesh catalog export --out {args.folder}`")
    drift = cat.descriptor_drift(catalog, folder)
    problems = [f"{r.urn}: {e}" for r in catalog.records
                for e in cat.validate_odcs(cat.odcs_contract(r, catalog.db_location))]
    if args.json:
        print(json.dumps({"drift": drift, "invalid": problems}, indent=2))
    if drift or problems:
        if not args.json:
            for line in drift + problems:
                print(f"  {line}")
        raise MeshError(f"{len(drift)} descriptor(s) in {args.folder} drift from the "
                        f"generated ones and {len(problems)} contract error(s): refresh with "
                        f"`duckmesh catalog export --out {args.folder}` and commit")
    if not args.json:
        print(f"{len(catalog.records) * 2} descriptors in {args.folder} match the mesh")
    return 0


def _site(args, mesh, catalog: cat.Catalog) -> int:
    from . import site

    out = (args.out or mesh.target_dir / "catalog" / "site").resolve()
    index = site.write_site(catalog, out, mesh)
    return _emit(args, {"index": str(index)}, f"catalog site: {index.as_uri()}")
