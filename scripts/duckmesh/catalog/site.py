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
ARROW = 6  # the arrowhead's length: a curve ends this far before the box it points at
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


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _share(rate: Any) -> str:
    """0.0 -> 'never empty'; 0.05 -> 'at most 5% empty'."""
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        return "never empty" if rate == 0 else f"at most {rate * 100:g}% empty"
    return f"at most {rate} empty"


def slo_lines(slo: dict) -> list[str]:
    """The product's SLOs (meta.slo) as sentences an analyst reads."""
    known = {
        "freshness_hours": lambda v: f"data at most {_number(v)} h old",
        "freshness_column": lambda v: f"freshness measured on {v}",
        "min_rows": lambda v: f"at least {v:,} rows" if isinstance(v, int) else
        f"at least {v} rows",
        "build_budget_seconds": lambda v: f"builds in at most {_number(v)} s",
        "availability_pct": lambda v: f"built successfully in at least {_number(v)}% of runs",
    }
    lines = []
    for key, value in sorted(slo.items()):
        if key == "max_null_rate" and isinstance(value, dict):
            lines += [f"{column}: {_share(rate)}" for column, rate in sorted(value.items())]
        elif key in known:
            lines.append(known[key](value))
        elif isinstance(value, dict):
            lines.append(f"{key.replace('_', ' ')}: " + ", ".join(
                f"{k} {_number(v)}" for k, v in sorted(value.items())))
        elif isinstance(value, list):
            lines.append(f"{key.replace('_', ' ')}: {', '.join(map(str, value))}")
        else:
            lines.append(f"{key.replace('_', ' ')}: {_number(value)}")
    return lines


def product_html(catalog: Catalog, versions: list[ProductRecord], mesh: Mesh | None,
                 sections: Sequence[Section] = ()) -> str:
    latest = _latest(versions)
    shown = [{"record": record, "slo": slo_lines(record.slo),
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
    """Products, sources and seeds as boxes in layers (longest path), edges as curves
    with an arrow at the reader. An edge that skips layers passes through an empty
    slot of each layer between (a waypoint), so no edge crosses a box: between two
    layers a curve stays in the gap between their columns."""
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
    # the slots of each layer: boxes, and one waypoint per edge passing through it
    routes = {edge: [f"{edge[0]}>{edge[1]}@{k}"
                     for k in range(layer[edge[0]] + 1, layer[edge[1]])] for edge in edges}
    slot_layer = dict(layer)
    above: dict[str, list[str]] = {}  # slot -> the slots feeding it in the previous layer
    for (source, target), waypoints in routes.items():
        chain = [source, *waypoints, target]
        for k, waypoint in enumerate(waypoints):
            slot_layer[waypoint] = layer[source] + 1 + k
        for before, after in zip(chain, chain[1:], strict=False):
            above.setdefault(after, []).append(before)
    columns: dict[int, list[str]] = {}
    order: dict[str, float] = {}
    for number in sorted(set(slot_layer.values())):
        slots = [u for u, n in slot_layer.items() if n == number]

        def key(slot: str) -> tuple:
            feeds = [order[p] for p in above.get(slot, []) if p in order]
            centre = sum(feeds) / len(feeds) if feeds else 0.0
            node = nodes.get(slot)
            return (centre, node is None, node["domain"] if node else "",
                    node["label"] if node else slot)

        if number == 0:
            slots.sort(key=lambda u: (nodes[u]["domain"], nodes[u]["label"]))
        else:
            slots.sort(key=key)
        columns[number] = slots
        order.update({slot: float(i) for i, slot in enumerate(slots)})
    # two lines per box, each sized to its longest text: the name (12 px) and the domain
    # and kind (10 px); CHAR_PX over-estimates a sans-serif character, so labels fit
    longest = max((max(len(n["title"]), len(n["subtitle"]) * 10 / 12)
                   for n in nodes.values()), default=10)
    width = int(longest * CHAR_PX) + 2 * BOX_PAD
    height, gap_x, box_gap, lane = 34, width + 60, 12, 12
    top = 40
    position: dict[str, tuple[float, float]] = {}  # slot -> (x, y of its top)
    bottom = top
    for number, slots in columns.items():
        y = float(top)
        for slot in slots:
            position[slot] = (20 + number * gap_x, y)
            y += (height + box_gap) if slot in nodes else lane
        bottom = max(bottom, int(y))

    def centre_y(slot: str) -> float:
        return position[slot][1] + (height / 2 if slot in nodes else lane / 2)

    curves = []
    for (source, target), waypoints in routes.items():
        chain = [source, *waypoints, target]
        x, y = position[source][0] + width, centre_y(source)
        path = [f"M{x:g},{y:g}"]
        for slot in chain[1:]:
            x2, y2 = position[slot][0], centre_y(slot)
            mid = (x + x2) / 2
            # the arrow's head sits on the box's edge
            end = x2 - ARROW if slot == target else x2
            path.append(f"C{mid:g},{y:g} {mid:g},{y2:g} {end:g},{y2:g}")
            if slot != target:  # straight through the empty slot
                path.append(f"L{x2 + width:g},{y2:g}")
            x, y = x2 + width, y2
        curves.append({"source": source, "target": target, "d": " ".join(path)})
    boxes = [{**node, "urn": urn, "x": position[urn][0], "y": position[urn][1],
              "fill": "#ffffff" if node["kind"] == "product" else "#eef1f4",
              "colour": colour[node["domain"]]} for urn, node in nodes.items()]
    return {"width": 40 + (max(columns, default=0) + 1) * gap_x,
            "height": bottom + 20, "box_width": width, "box_height": height,
            "edges": curves, "nodes": boxes, "legend": [(d, colour[d]) for d in domains]}


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
