"""The static catalog site: plain HTML files that work from file:// with no server and
no network (inline CSS and JS, the lineage graph drawn as inline SVG).

    index.html                 search box, filters by domain / owner / tag, every product
    products/<domain>.<product>.html   one page per product, all its versions
    lineage.html               the cross-domain lineage graph

Other capabilities add a section to every product page by appending
"module:function" to PRODUCT_SECTIONS; the function is called as
``function(mesh, record)`` (``record`` a descriptor.ProductRecord, ``mesh`` a
project.Mesh or None) and returns an HTML fragment (trusted, inserted as is) or None.
"""

from __future__ import annotations

import importlib
import json
from html import escape
from pathlib import Path

from .catalog import Catalog
from .descriptor import ProductRecord
from .project import Mesh

PRODUCT_SECTIONS: list[str] = ["duckmesh.observability.report:site_section"]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;background:#f7f8fa}
header{background:#20303f;color:#fff;padding:12px 24px}header a{color:#fff;margin-right:18px}
main{padding:16px 24px;max-width:1200px}h1{margin:8px 0}h2{margin-top:28px}
.controls{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0}
.controls input{flex:1;min-width:260px;padding:8px;font-size:16px}
.controls select{padding:8px}
ul.products{list-style:none;padding:0}
li.product{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:8px 0;padding:10px 14px}
li.product a{font-weight:600;font-size:17px}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;margin-left:6px;background:#e6ebf0}
.deprecated,.retired{background:#fde2c8}.active{background:#d5f0d8}.fail,.error{background:#f8d0d0}
.pass{background:#d5f0d8}.warn{background:#fff1b8}
table{border-collapse:collapse;background:#fff;margin:8px 0}
th,td{border:1px solid #dde2e8;padding:4px 8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#eef1f4}code,pre{background:#eef1f4;padding:2px 4px;border-radius:3px}
pre{padding:10px;overflow:auto}.muted{color:#66707a}svg a:hover rect{stroke-width:3}
"""

SEARCH_JS = """
(function(){
  var search=document.getElementById('search');
  var selects=['domain','owner','tag'].map(function(n){return document.getElementById(n+'-filter');});
  var items=Array.prototype.slice.call(document.querySelectorAll('li.product'));
  var count=document.getElementById('count');
  function apply(){
    var words=search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown=0;
    items.forEach(function(li){
      var text=li.getAttribute('data-text');
      var ok=words.every(function(w){return text.indexOf(w)>=0;});
      if(selects[0].value&&li.getAttribute('data-domain')!==selects[0].value)ok=false;
      if(selects[1].value&&li.getAttribute('data-owner')!==selects[1].value)ok=false;
      if(selects[2].value&&(' '+li.getAttribute('data-tags')+' ').indexOf(' '+selects[2].value+' ')<0)ok=false;
      li.style.display=ok?'':'none'; if(ok)shown++;
    });
    count.textContent=shown+(shown===1?' product':' products');
  }
  search.addEventListener('input',apply);
  selects.forEach(function(s){s.addEventListener('change',apply);});
  var q=new URLSearchParams(window.location.search).get('q'); if(q){search.value=q;}
  apply();
})();
"""


def _page(title: str, body: str, depth: int = 0, script: str = "") -> str:
    up = "../" * depth
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><a href=\"{up}index.html\">DuckMesh catalog</a>"
            f"<a href=\"{up}lineage.html\">Lineage graph</a></header>"
            f"<main>{body}</main>"
            + (f"<script>{script}</script>" if script else "") + "</body></html>\n")


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
    items = []
    for (domain, name), versions in sorted(grouped.items()):
        latest = _latest(versions)
        tags = sorted({t for v in versions for t in _tags(v)})
        text = " ".join([domain, name, latest.description, latest.owner_name,
                         latest.owner_email, *tags, *(c.name for c in latest.columns)]).lower()
        badges = "".join(f'<span class="badge {escape(v.status)}">v{v.version} '
                         f'{escape(v.status)}</span>' for v in versions)
        items.append(
            f'<li class="product" data-domain="{escape(domain)}" '
            f'data-owner="{escape(latest.owner_name)}" data-tags="{escape(" ".join(tags))}" '
            f'data-text="{escape(text)}"><a href="{product_file(domain, name)}">'
            f'{escape(domain)}.{escape(name)}</a>{badges}'
            f'<div>{escape(latest.description)}</div><div class="muted">owner: '
            f'{escape(latest.owner_name)} &middot; {escape(latest.relation)}</div></li>')
    options = {
        "domain": sorted({d for d, _ in grouped}),
        "owner": sorted({r.owner_name for r in catalog.records if r.owner_name}),
        "tag": sorted({t for r in catalog.records for t in _tags(r)}),
    }
    selects = "".join(
        f'<select id="{kind}-filter" aria-label="{kind}"><option value="">every {kind}'
        f'</option>' + "".join(f'<option value="{escape(v)}">{escape(v)}</option>'
                               for v in values) + "</select>"
        for kind, values in options.items())
    body = (f"<h1>Data products</h1><p class=\"muted\">{len(grouped)} products, "
            f"{len(catalog.records)} versions, {len(catalog.domains)} domains. The same "
            f"catalog is queryable in SQL: <code>select * from mesh_catalog.products</code>"
            f"</p><div class=\"controls\"><input id=\"search\" type=\"search\" "
            f"placeholder=\"Search products, columns, owners…\" autofocus>{selects}</div>"
            f"<p id=\"count\">{len(grouped)} products</p>"
            f"<ul class=\"products\" id=\"results\">{''.join(items)}</ul>")
    return _page("DuckMesh catalog", body, script=SEARCH_JS)


def _link(urn: str, catalog: Catalog, depth: int = 1) -> str:
    parts = urn.split(":")
    known = {r.urn for r in catalog.records}
    if urn in known:
        href = "../" * (depth - 1) + f"{parts[2]}.{parts[3]}.html"
        return f'<a href="{escape(href)}">{escape(parts[2])}.{escape(parts[3])} ' \
               f'{escape(parts[4])}</a>'
    return f"<code>{escape(':'.join(parts[2:]))}</code>"


def product_html(catalog: Catalog, versions: list[ProductRecord], mesh: Mesh | None) -> str:
    latest = _latest(versions)
    history = "".join(
        f"<tr><td>v{v.version}{' (latest)' if v.is_latest else ''}</td>"
        f'<td><span class="badge {escape(v.status)}">{escape(v.status)}</span></td>'
        f"<td>{escape(v.deprecation_date or '')}</td><td><code>{escape(v.relation)}</code></td>"
        f"<td>{escape(v.parquet_location or '')}</td>"
        f"<td>{escape(v.quality_status or 'not run')}</td></tr>"
        for v in versions)
    body = [f"<h1>{escape(latest.domain)}.{escape(latest.name)}</h1>",
            f'<p id="description">{escape(latest.description)}</p>',
            f'<p>Owner: <strong id="owner">{escape(latest.owner_name)}</strong> '
            f'&lt;<a href="mailto:{escape(latest.owner_email)}">{escape(latest.owner_email)}'
            f'</a>&gt; &middot; domain <strong>{escape(latest.domain)}</strong> &middot; '
            f'classification {escape(latest.classification or "-")}</p>',
            "<h2>Versions</h2><table id=\"versions\"><tr><th>version</th><th>status</th>"
            "<th>deprecation date</th><th>DuckDB relation</th><th>Parquet</th>"
            f"<th>quality</th></tr>{history}</table>"]
    if latest.is_latest:
        body.append(f"<p>The latest version is also the view "
                    f"<code>{escape(latest.latest_relation)}</code>.</p>")
    for record in sorted(versions, key=lambda r: -r.version):
        body.append(_version_section(catalog, record, mesh))
    return _page(f"{latest.domain}.{latest.name} - DuckMesh catalog", "".join(body), depth=1)


def _version_section(catalog: Catalog, record: ProductRecord, mesh: Mesh | None) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(c.name)}</code></td><td>{escape(c.data_type)}</td>"
        f"<td>{'primary key' if c.primary_key else ('not null' if c.not_null else '')}</td>"
        f"<td>{escape(c.description)}</td><td>"
        + ", ".join(f"{_link(u, catalog)}.<code>{escape(col)}</code>" for u, col in c.lineage)
        + "</td></tr>" for c in record.columns)
    slos = "".join(f"<li>{escape(k)}: {escape(str(v))}</li>" for k, v in sorted(record.slo.items()))
    checks = "".join(
        f"<tr><td>{escape(c.test)}</td><td>{escape(c.column or '')}</td>"
        f'<td><span class="badge {escape(c.status or "")}">{escape(c.status or "not run")}'
        f"</span></td><td class=\"muted\">{escape(c.name)}</td></tr>" for c in record.checks)
    inputs = "".join(f"<li>{_link(p.urn, catalog)} <span class=\"muted\">({escape(p.kind)}: "
                     f"{escape(p.relation)})</span></li>" for p in record.inputs)
    consumers = "".join(
        f"<li>{escape(c.consumer_domain)}.{escape(c.consumer_name)} "
        f"<span class=\"muted\">({escape(c.consumer_kind)}) reads "
        f"{escape(', '.join(c.columns) or 'no columns resolved')}</span></li>"
        for c in catalog.consumers if c.product_id == record.urn)
    extra = "".join(_extra_sections(mesh, record))
    deprecation = (f'<p class="badge deprecated">Deprecated: removed after '
                   f'{escape(record.deprecation_date)}; use v{record.latest_version}.</p>'
                   if record.deprecation_date else "")
    return (f'<section id="v{record.version}"><h2>Version {record.version} '
            f'<span class="badge {escape(record.status)}">{escape(record.status)}</span></h2>'
            f"{deprecation}<p class=\"muted\">{escape(record.urn)} &middot; contract "
            f"<code>{escape(record.domain)}/{escape(record.name)}_v{record.version}.odcs.yaml"
            f"</code></p><h3>Schema and column lineage</h3><table class=\"schema\"><tr>"
            f"<th>column</th><th>type</th><th>keys</th><th>description</th><th>fed by</th>"
            f"</tr>{rows}</table><h3>SLOs</h3><ul>{slos or '<li>none</li>'}</ul>"
            f"<h3>Quality: {escape(record.quality_status or 'not run')}</h3><table><tr>"
            f"<th>check</th><th>column</th><th>latest status</th><th>test</th></tr>{checks}"
            f"</table><h3>Inputs</h3><ul>{inputs or '<li>none</li>'}</ul>"
            f"<h3>Consumers</h3><ul>{consumers or '<li>none yet</li>'}</ul>"
            f"<h3>Example query</h3><pre>{escape(record.example_query)}</pre>{extra}</section>")


def _extra_sections(mesh: Mesh | None, record: ProductRecord) -> list[str]:
    sections = []
    for spec in PRODUCT_SECTIONS:
        module_name, function_name = spec.split(":")
        try:
            fragment = getattr(importlib.import_module(module_name), function_name)(mesh, record)
        except Exception as error:  # a broken add-on must not break the catalog
            fragment = f"<p class=\"muted\">{escape(spec)} failed: {escape(str(error))}</p>"
        if fragment:
            sections.append(fragment)
    return sections


def lineage_svg(catalog: Catalog) -> str:
    """Products, sources and seeds as boxes in layers (longest path), edges as curves."""
    nodes: dict[str, dict] = {}
    edges: list[tuple[str, str]] = []
    for record in catalog.records:
        nodes[record.urn] = {"label": f"{record.domain}.{record.name} v{record.version}",
                             "domain": record.domain, "kind": "product",
                             "href": product_file(record.domain, record.name)}
        for port in record.inputs:
            if port.urn not in nodes:
                nodes[port.urn] = {"label": f"{port.domain}.{port.name} ({port.kind})",
                                   "domain": port.domain, "kind": port.kind, "href": None}
            edges.append((port.urn, record.urn))
    parents: dict[str, list[str]] = {}
    for source, target in edges:
        parents.setdefault(target, []).append(source)
    layer: dict[str, int] = {}

    def depth(urn: str, trail: frozenset = frozenset()) -> int:
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
    width, height, gap_x, gap_y = 250, 26, 330, 36
    position = {urn: (20 + x * gap_x, 40 + y * gap_y)
                for x, urns in columns.items() for y, urn in enumerate(urns)}
    total_w = 40 + (max(columns, default=0) + 1) * gap_x
    total_h = 60 + max((len(v) for v in columns.values()), default=1) * gap_y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="lineage-graph" width="{total_w}" '
             f'height="{total_h}" viewBox="0 0 {total_w} {total_h}" font-size="12" '
             f'font-family="sans-serif">']
    legend = "".join(f'<tspan fill="{colour[d]}">&#9632; {escape(d)}  </tspan>' for d in domains)
    parts.append(f'<text x="20" y="20">{legend}</text>')
    for source, target in edges:
        (x1, y1), (x2, y2) = position[source], position[target]
        x1, y1, y2 = x1 + width, y1 + height / 2, y2 + height / 2
        mid = (x1 + x2) / 2
        parts.append(f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" '
                     f'fill="none" stroke="#9aa5b1" data-from="{escape(source)}" '
                     f'data-to="{escape(target)}"/>')
    for urn, node in nodes.items():
        x, y = position[urn]
        fill = "#ffffff" if node["kind"] == "product" else "#eef1f4"
        box = (f'<g class="node {node["kind"]}" data-id="{escape(urn)}"><rect x="{x}" y="{y}" '
               f'width="{width}" height="{height}" rx="5" fill="{fill}" '
               f'stroke="{colour[node["domain"]]}" stroke-width="2"/><text x="{x + 8}" '
               f'y="{y + 17}">{escape(node["label"][:40])}</text></g>')
        parts.append(f'<a href="{escape(node["href"])}">{box}</a>' if node["href"] else box)
    parts.append("</svg>")
    return "".join(parts)


def lineage_html(catalog: Catalog) -> str:
    body = ("<h1>Cross-domain lineage</h1><p class=\"muted\">Sources and seeds (grey) feed "
            "products (white); a box's border is its domain. Click a product to open it."
            f"</p><div style=\"overflow:auto\">{lineage_svg(catalog)}</div>")
    return _page("Lineage - DuckMesh catalog", body)


def write_site(catalog: Catalog, out: Path, mesh: Mesh | None = None) -> Path:
    """Write the whole site into ``out``; returns index.html."""
    (out / "products").mkdir(parents=True, exist_ok=True)
    expected = set()
    for (domain, name), versions in _grouped(catalog).items():
        path = out / product_file(domain, name)
        path.write_text(product_html(catalog, versions, mesh), encoding="utf-8")
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
