"""The static catalog site: plain HTML files that work from file:// with no server and
no network (inline CSS and JS, the lineage graph drawn as inline SVG), rendered from
the Jinja2 templates in ``templates/`` (autoescaped).

    index.html                 search box, filters by domain / owner / tag, every product
    products/<domain>.<product>.html   one page per product, all its versions
    lineage.html               the cross-domain lineage graph

Other capabilities add a section to every product page: ``write_site(..., sections=[f])``
calls ``f(mesh, record)`` (``record`` a descriptor.ProductRecord, ``mesh`` a
project.Mesh or None), which returns an HTML fragment (trusted, inserted as is) or None.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from duckmesh.catalog.descriptor import ProductRecord
from duckmesh.catalog.model import Catalog
from duckmesh.core.project import Mesh
from duckmesh.core.templates import render

Section = Callable[[Mesh | None, ProductRecord], str | None]
TEMPLATES = Path(__file__).parent / "templates"

CHAR_PX, BOX_PAD = 7.5, 8  # lineage boxes: width per character of the name, padding
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22"]


def product_file(domain: str, name: str) -> str:
    return f"products/{domain}.{name}.html"


def _tags(record: ProductRecord) -> list[str]:
    tags = list(record.tags)
    if record.classification:
        tags.append(record.classification)
    return sorted(set(tags))


def _latest(versions: list[ProductRecord]) -> ProductRecord:
    return next((r for r in versions if r.is_latest), versions[-1])


def _grouped(catalog: Catalog) -> dict[tuple[str, str], list[ProductRecord]]:
    grouped: dict[tuple[str, str], list[ProductRecord]] = {}
    for record in catalog.records:
        grouped.setdefault((record.domain, record.name), []).append(record)
    return grouped


def index_html(catalog: Catalog) -> str:
    grouped = _grouped(catalog)
    products = []
    for (domain, name), versions in sorted(grouped.items()):
        latest = _latest(versions)
        tags = sorted({t for v in versions for t in _tags(v)})
        text = " ".join([domain, name, latest.description, latest.owner_name,
                         latest.owner_email, *tags, *(c.name for c in latest.columns)]).lower()
        products.append({"domain": domain, "name": name, "latest": latest, "tags": tags,
                         "text": text, "versions": versions,
                         "href": product_file(domain, name)})
    filters = {
        "domain": sorted({d for d, _ in grouped}),
        "owner": sorted({r.owner_name for r in catalog.records if r.owner_name}),
        "tag": sorted({t for r in catalog.records for t in _tags(r)}),
    }
    return render(TEMPLATES, "index.html.j2", title="DuckMesh catalog", up="",
                  products=products, versions=len(catalog.records),
                  domains=len(catalog.domains), filters=filters)


def product_html(catalog: Catalog, versions: list[ProductRecord], mesh: Mesh | None,
                 sections: Sequence[Section] = ()) -> str:
    latest = _latest(versions)
    shown = [{"record": record,
              "consumers": [c for c in catalog.consumers if c.product_id == record.urn],
              "extra": _extra_sections(mesh, record, sections)}
             for record in sorted(versions, key=lambda r: -r.version)]
    return render(TEMPLATES, "product.html.j2",
                  title=f"{latest.domain}.{latest.name} - DuckMesh catalog", up="../",
                  latest=latest, versions=versions, sections=shown,
                  known={r.urn for r in catalog.records})


def _extra_sections(mesh: Mesh | None, record: ProductRecord,
                    sections: Sequence[Section]) -> list[str]:
    fragments = []
    for section in sections:
        try:
            fragment = section(mesh, record)
        except Exception as error:  # a broken add-on must not break the catalog
            name = getattr(section, "__qualname__", repr(section))
            fragment = f"<p class=\"muted\">{escape(name)} failed: {escape(str(error))}</p>"
        if fragment:
            fragments.append(fragment)
    return fragments


def lineage_graph(catalog: Catalog) -> dict[str, Any]:
    """Products, sources and seeds as boxes in layers (longest path), edges as curves."""
    nodes: dict[str, dict] = {}
    edges: list[tuple[str, str]] = []
    for record in catalog.records:
        nodes[record.urn] = {"label": f"{record.domain}.{record.name} v{record.version}",
                             "title": f"{record.name} v{record.version}",
                             "subtitle": record.domain,
                             "domain": record.domain, "kind": "product",
                             "href": product_file(record.domain, record.name)}
        for port in record.inputs:
            if port.urn not in nodes:
                nodes[port.urn] = {"label": f"{port.domain}.{port.name} ({port.kind})",
                                   "title": port.name, "subtitle": f"{port.domain} {port.kind}",
                                   "domain": port.domain, "kind": port.kind, "href": None}
            edges.append((port.urn, record.urn))
    parents: dict[str, list[str]] = {}
    for source, target in edges:
        parents.setdefault(target, []).append(source)
    layer: dict[str, int] = {}

    def depth(urn: str, trail: frozenset[str] = frozenset()) -> int:
        if urn not in layer:
            ups = [p for p in parents.get(urn, []) if p not in trail]
            layer[urn] = 1 + max((depth(p, trail | {urn}) for p in ups), default=-1)
        return layer[urn]

    for urn in nodes:
        depth(urn)
    domains = sorted({n["domain"] for n in nodes.values()})
    colour = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(domains)}
    columns: dict[int, list[str]] = {}
    for urn in sorted(nodes, key=lambda u: (nodes[u]["domain"], nodes[u]["label"])):
        columns.setdefault(layer[urn], []).append(urn)
    # two lines per box, each sized to its longest text: the name (12 px) and the domain
    # and kind (10 px); CHAR_PX over-estimates a sans-serif character, so labels fit
    longest = max((max(len(n["title"]), len(n["subtitle"]) * 10 / 12)
                   for n in nodes.values()), default=10)
    width = int(longest * CHAR_PX) + 2 * BOX_PAD
    height, gap_x, gap_y = 34, width + 60, 44
    position = {urn: (20 + x * gap_x, 40 + y * gap_y)
                for x, urns in columns.items() for y, urn in enumerate(urns)}
    curves = []
    for source, target in edges:
        (x1, y1), (x2, y2) = position[source], position[target]
        curves.append({"source": source, "target": target, "x1": x1 + width,
                       "y1": y1 + height / 2, "x2": x2, "y2": y2 + height / 2,
                       "mid": (x1 + width + x2) / 2})
    boxes = [{**node, "urn": urn, "x": position[urn][0], "y": position[urn][1],
              "fill": "#ffffff" if node["kind"] == "product" else "#eef1f4",
              "colour": colour[node["domain"]]} for urn, node in nodes.items()]
    return {"width": 40 + (max(columns, default=0) + 1) * gap_x,
            "height": 60 + max((len(v) for v in columns.values()), default=1) * gap_y,
            "box_width": width, "box_height": height, "edges": curves, "nodes": boxes,
            "legend": [(d, colour[d]) for d in domains]}


def lineage_html(catalog: Catalog) -> str:
    return render(TEMPLATES, "lineage.html.j2", title="Lineage - DuckMesh catalog", up="",
                  graph=lineage_graph(catalog))


def write_site(catalog: Catalog, out: Path, mesh: Mesh | None = None,
               sections: Sequence[Section] = ()) -> Path:
    """Write the whole site into ``out``; returns index.html."""
    (out / "products").mkdir(parents=True, exist_ok=True)
    expected = set()
    for (domain, name), versions in _grouped(catalog).items():
        path = out / product_file(domain, name)
        path.write_text(product_html(catalog, versions, mesh, sections), encoding="utf-8")
        expected.add(path.name)
    for stale in (out / "products").glob("*.html"):
        if stale.name not in expected:
            stale.unlink()
    (out / "lineage.html").write_text(lineage_html(catalog), encoding="utf-8")
    (out / "catalog.json").write_text(json.dumps(
        [{"id": r.urn, "domain": r.domain, "product": r.name, "version": r.version,
          "status": r.status, "owner": r.owner_name, "page": product_file(r.domain, r.name)}
         for r in catalog.records], indent=1), encoding="utf-8")
    index = out / "index.html"
    index.write_text(index_html(catalog), encoding="utf-8")
    return index
