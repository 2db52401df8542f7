"""A standalone HTML page: per product, small inline SVG charts of rows, build time and
SLO attainment over its runs (no JavaScript, no CDN). ``product_panel`` is the piece a
catalog site can embed per product."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from duckmesh.core.project import MeshError
from duckmesh.observability.alerts import query_alerts
from duckmesh.observability.store import connect, has_history
from duckmesh.observability.views import product_status, series

WIDTH, HEIGHT, PAD = 360, 100, 6
GUTTER = 64  # left of the plot: the axis labels, so no point or line ever covers them
AXIS_PX = 12  # the axis labels' font size


def _fmt(value: float) -> str:
    """10000 -> '10,000'; 1.2345 -> '1.23'."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def sparkline(values: list[float | None], title: str, unit: str = "",
              fixed_range: tuple[float, float] | None = None) -> str:
    """An SVG line of ``values`` (None leaves a gap), oldest left, captioned with the last
    value and the number of runs. The axis labels sit in a gutter left of the plot: the
    top and bottom of the range, or one label when every value is the same (one run, or
    a flat series), drawn level with the points."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    last = f"{_fmt(points[-1][1])}{unit}" if points else "no data"
    # the caption counts the points drawn: runs that measured nothing are gaps
    runs = f"{len(points)} run{'s' if len(points) != 1 else ''}"
    if len(points) != len(values):
        runs = f"{len(points)} of {len(values)} runs measured"
    head = (f'<figure class="chart"><figcaption>{html.escape(title)}: '
            f'<b>{html.escape(last)}</b> <span class="runs">({runs})</span></figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">'
            f'<rect x="{GUTTER}" width="{WIDTH - GUTTER}" height="{HEIGHT}" fill="#f6f8fa"/>')
    if not points:
        return head + "</svg></figure>"
    observed = (min(v for _, v in points), max(v for _, v in points))
    flat = observed[0] == observed[1]
    low, high = fixed_range or observed
    span = (high - low) or 1.0
    steps = max(len(values) - 1, 1)
    left, right = GUTTER + 2 * PAD, WIDTH - 2 * PAD

    def x(i: int) -> float:
        return left + (right - left) * (i / steps if len(values) > 1 else 0.5)

    def y(v: float) -> float:
        if flat and fixed_range is None:
            return HEIGHT / 2
        return HEIGHT - 2 * PAD - (HEIGHT - 4 * PAD) * ((v - low) / span)

    def label(value: float, at: float) -> str:
        return (f'<text class="axis" x="{GUTTER - 4}" y="{at + 4:.1f}" font-size="{AXIS_PX}" '
                f'text-anchor="end" fill="#57606a">{html.escape(_fmt(value))}</text>')

    line = ""
    if len(points) > 1:
        line = ('<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="'
                + " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points) + '"/>')
    dots = "".join(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{4 if len(points) == 1 else 3}" '
                   f'fill="#0969da"><title>{_fmt(v)}{html.escape(unit)}</title></circle>'
                   for i, v in points)
    if flat and fixed_range is None:
        axis = label(observed[0], HEIGHT / 2)
    else:
        axis = label(high, y(high)) + label(low, y(low))
    return head + line + dots + axis + "</svg></figure>"


def product_panel(con: duckdb.DuckDBPyConnection, product: str, limit: int = 60) -> str:
    """Three charts for one product (rows, build seconds, availability and freshness
    attainment over the ledger window), as an HTML fragment."""
    points = series(con, product, limit)
    return (
        '<div class="charts">'
        + sparkline([p[1] for p in points], "rows")
        + sparkline([p[2] for p in points], "build time", " s")
        + sparkline([p[3] for p in points], "availability", " %", (0.0, 100.0))
        + sparkline([p[4] for p in points], "freshness SLO hit rate", " %", (0.0, 100.0))
        + "</div>")


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328}
section{border-top:1px solid #d0d7de;padding:.5rem 0}
h2{font-size:1.05rem;margin:.4rem 0} .meta{color:#57606a;font-size:.85rem}
.charts{display:flex;gap:1rem;flex-wrap:wrap} figure{margin:0}
figcaption{font-size:.9rem;color:#57606a} .bad{color:#cf222e} .ok{color:#1a7f37}
li{font-size:.85rem}
"""


def render(con: duckdb.DuckDBPyConnection, limit: int = 60) -> str:
    statuses = product_status(con)
    alerts = query_alerts(con)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8>"
             f"<title>DuckMesh observability</title><style>{STYLE}</style></head><body>"
             f"<h1>DuckMesh observability</h1><p class=meta>Generated {generated}; "
             f"the last {limit} runs per product. {len(alerts)} open alert(s).</p>"]
    for status in statuses:
        state_class = "ok" if not status.breaches else "bad"
        version = f"v{status.version}" if status.version is not None else ""
        rows = f"{status.rows:,}" if status.rows is not None else "missing"
        parts.append(
            f"<section id=\"{html.escape(status.product)}\"><h2>{html.escape(status.product)} "
            f"{version}</h2><p class=meta>owner {html.escape(status.owner)} &middot; "
            f"{rows} rows &middot; SLO <span class={state_class}>"
            f"{html.escape(status.slo_state)}</span></p>"
            + product_panel(con, status.product, limit))
        mine = [a for a in alerts if a.product == status.product]
        if mine:
            parts.append("<ul>" + "".join(
                f"<li class=bad>{html.escape(a.severity)}: {html.escape(a.message)}</li>"
                for a in mine) + "</ul>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(con: duckdb.DuckDBPyConnection, path: Path, limit: int = 60) -> Path:
    page = render(con, limit)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as error:
        raise MeshError(f"cannot write the report to {path} ({error.strerror or error}): "
                        "give --html a file in a folder you can write") from error
    return path


def site_section(mesh, record) -> str | None:  # noqa: ANN001 - project.Mesh, ProductRecord
    """The catalog site's per-product hook (site.PRODUCT_SECTIONS): the charts of the
    product's latest version, or None when nothing is recorded yet."""
    if mesh is None or not record.version == record.latest_version:
        return None
    if not has_history(mesh.db_path):
        return None
    with connect(mesh.db_path, create=False) as con:
        product = f"{record.domain}.{record.name}"
        if not series(con, product, 1):
            return None
        return ("<h2>Observability</h2><p class=\"muted\">Rows, build time and SLO "
                "attainment per recorded run (<code>duckmesh history "
                f"{html.escape(product)}</code>).</p>" + product_panel(con, product))
