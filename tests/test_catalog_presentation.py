"""What a person sees on the catalog site, checked in headless Chromium (Debian's
`chromium` through Playwright's Python package, as test_catalog_site.py): lineage labels
that fit their boxes, a graph that is not clipped, and charts that make sense with one
run and with thirty. Each test saves a screenshot in test-artifacts/ and asserts a
property of the rendered page, never of the HTML text alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import duckmesh
from duckmesh.observability.report import GUTTER, STYLE, sparkline
from test_catalog_site import ARTIFACTS, CHROMIUM, Browser

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(built_mesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    duckmesh(built_mesh.root, "catalog", "site", "--out", str(out))
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: apt-get install -y chromium (or make browser)")
    driver = Browser()
    yield driver
    driver.close()


def screenshot(browser: Browser, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(browser.page.screenshot(type="png", full_page=True))
    assert path.stat().st_size > 5_000
    return path


def test_lineage_labels_fit_their_boxes_and_the_graph_is_not_clipped(site, browser):
    browser.open((site / "lineage.html").as_uri())
    boxes = browser.js("""Array.from(document.querySelectorAll('#lineage-graph g.node')).map(g => {
        const rect = g.querySelector('rect').getBoundingClientRect();
        return {id: g.getAttribute('data-id'), box: rect.width,
                texts: Array.from(g.querySelectorAll('text')).map(t => ({
                    text: t.textContent, left: t.getBoundingClientRect().left - rect.left,
                    right: rect.right - t.getBoundingClientRect().right}))};
    })""")
    assert len(boxes) == 18  # 10 product versions, 6 sources, 2 seeds at the test scale
    for node in boxes:
        for text in node["texts"]:
            # the whole label inside its box, with room to spare on both sides
            assert text["left"] >= 4 and text["right"] >= 4, (node["id"], text)
    titles = {n["id"]: n["texts"][0]["text"] for n in boxes}
    assert titles["urn:duckmesh:customer_service:source:ticketing.tickets"] == \
        "ticketing.tickets"
    assert titles["urn:duckmesh:sales:orders:v2"] == "orders v2"
    subtitles = {n["id"]: n["texts"][1]["text"] for n in boxes}
    assert subtitles["urn:duckmesh:customer_service:source:ticketing.tickets"] == \
        "customer_service source"
    # the graph fits the window: nothing to its right is cut off, no horizontal scroll
    fit = browser.js("""(() => {
        const svg = document.getElementById('lineage-graph').getBoundingClientRect();
        const frame = document.getElementById('lineage-frame');
        return {right: svg.right, width: document.documentElement.clientWidth,
                frame: [frame.scrollWidth, frame.clientWidth],
                page: [document.documentElement.scrollWidth,
                       document.documentElement.clientWidth]};
    })()""")
    assert fit["right"] <= fit["width"]
    assert fit["frame"][0] <= fit["frame"][1] and fit["page"][0] <= fit["page"][1]
    screenshot(browser, "catalog_lineage.png")


def chart_page(tmp_path: Path, charts: list[str]) -> Path:
    page = tmp_path / "charts.html"
    page.write_text(f"<!doctype html><html><head><meta charset=utf-8><style>{STYLE}</style>"
                    f"</head><body><div class=charts>{''.join(charts)}</div></body></html>")
    return page


CHART_FACTS = """Array.from(document.querySelectorAll('figure.chart')).map(f => {
    const svg = f.querySelector('svg').getBoundingClientRect();
    const plot = f.querySelector('svg rect').getBoundingClientRect();
    const labels = Array.from(f.querySelectorAll('text.axis')).map(t => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent, left: r.left - svg.left, right: r.right - svg.left,
                top: r.top, bottom: r.bottom};
    });
    return {caption: f.querySelector('figcaption').textContent,
            captionFits: f.querySelector('figcaption').scrollWidth
                         <= f.querySelector('figcaption').clientWidth,
            dots: Array.from(f.querySelectorAll('circle')).map(c => {
                const r = c.getBoundingClientRect();
                return [r.left + r.width / 2 - plot.left, r.top + r.height / 2 - plot.top];
            }),
            plot: [plot.width, plot.height], lines: f.querySelectorAll('polyline').length,
            labels: labels};
})"""


def test_charts_make_sense_with_one_run_and_with_thirty(browser, tmp_path: Path):
    thirty = [10_000.0 + 40 * i + (250 if i % 7 == 0 else 0) for i in range(30)]
    browser.open(chart_page(tmp_path, [
        sparkline([10_000.0], "rows"),
        sparkline(thirty, "rows"),
        sparkline([100.0] * 30, "availability", " %", (0.0, 100.0)),
    ]).as_uri())
    one, many, fixed = browser.js(CHART_FACTS)

    # one run: one dot in the middle of the plot, one axis label, no line
    assert one["caption"] == "rows: 10,000 (1 run)"
    assert one["lines"] == 0 and len(one["dots"]) == 1
    (x, y), (width, height) = one["dots"][0], one["plot"]
    assert abs(x - width / 2) < 10 and abs(y - height / 2) < 1
    assert [label["text"] for label in one["labels"]] == ["10,000"]

    # thirty runs: thirty dots left to right inside the plot, two distinct labels
    assert many["caption"] == f"rows: {thirty[-1]:,.0f} (30 runs)"
    assert many["lines"] == 1 and len(many["dots"]) == 30
    xs = [dot[0] for dot in many["dots"]]
    assert xs == sorted(xs) and xs[0] > 0 and xs[-1] < many["plot"][0]
    assert all(0 <= dot[1] <= many["plot"][1] for dot in many["dots"])
    assert [label["text"] for label in many["labels"]] == [f"{max(thirty):,.0f}",
                                                           f"{min(thirty):,.0f}"]
    top, bottom = many["labels"]
    assert top["bottom"] <= bottom["top"]  # the two labels never overlap

    # a fixed 0-100 range keeps both ends labelled even when every run is at 100
    assert [label["text"] for label in fixed["labels"]] == ["100", "0"]
    for chart in (one, many, fixed):
        assert chart["captionFits"]
        # labels sit in the gutter left of the plot: no dot or line covers them
        assert all(0 <= label["left"] and label["right"] <= GUTTER for label in chart["labels"])
    screenshot(browser, "observability_charts_1_and_30_runs.png")


def test_product_page_charts_after_the_first_build(site, browser):
    """The session's mesh has one recorded run: its charts say so and label once."""
    browser.open((site / "products" / "sales.orders.html").as_uri())
    charts = browser.js(CHART_FACTS)
    assert [c["caption"].split(": ")[0] for c in charts] == [
        "rows", "build time", "availability", "freshness SLO hit rate"]
    assert all(c["caption"].endswith("(1 run)") for c in charts)
    assert charts[0]["caption"] == "rows: 10,000 (1 run)"
    assert [label["text"] for label in charts[0]["labels"]] == ["10,000"]
    assert [len(c["dots"]) for c in charts] == [1, 1, 1, 1]
    screenshot(browser, "catalog_orders_page_one_run.png")


def test_lineage_edges_are_arrows_that_cross_no_box(site, browser):
    browser.open((site / "lineage.html").as_uri())
    facts = browser.js("""(() => {
        const svg = document.getElementById('lineage-graph');
        const boxes = Array.from(svg.querySelectorAll('g.node')).map(g => {
            const r = g.querySelector('rect');
            return {id: g.getAttribute('data-id'), x: +r.getAttribute('x'),
                    y: +r.getAttribute('y'), w: +r.getAttribute('width'),
                    h: +r.getAttribute('height')};
        });
        const edges = Array.from(svg.querySelectorAll('path.edge')).map(p => {
            const length = p.getTotalLength(), points = [];
            for (let at = 0; at <= length; at += 2) {
                const q = p.getPointAtLength(at); points.push([q.x, q.y]);
            }
            const end = p.getPointAtLength(length);
            return {from: p.getAttribute('data-from'), to: p.getAttribute('data-to'),
                    marker: getComputedStyle(p).markerEnd, points: points,
                    end: [end.x, end.y]};
        });
        const head = svg.querySelector('marker#arrow');
        return {boxes: boxes, edges: edges,
                arrow: head ? +head.getAttribute('markerWidth') : 0};
    })()""")
    boxes = {b["id"]: b for b in facts["boxes"]}
    columns = sorted({b["x"] for b in facts["boxes"]})
    assert facts["arrow"] == 6 and len(facts["edges"]) > 20
    skipping = 0
    for edge in facts["edges"]:
        assert edge["marker"] == 'url("#arrow")', edge["from"]
        # no sampled point of the curve lies inside any box (its ends touch their boxes)
        inside = [(b["id"], point) for point in edge["points"] for b in facts["boxes"]
                  if b["x"] + 1 < point[0] < b["x"] + b["w"] - 1
                  and b["y"] + 1 < point[1] < b["y"] + b["h"] - 1]
        assert inside == [], (edge["from"], edge["to"], inside[:3])
        # the arrowhead (6 px) ends on the left edge of the reading box, at its middle
        target = boxes[edge["to"]]
        assert edge["end"][0] == pytest.approx(target["x"] - 6, abs=0.5)
        assert edge["end"][1] == pytest.approx(target["y"] + target["h"] / 2, abs=0.5)
        source = boxes[edge["from"]]
        skipping += columns.index(target["x"]) - columns.index(source["x"]) > 1
    assert skipping > 0  # some edges skip layers: those are the ones routed around boxes
    screenshot(browser, "catalog_lineage_arrows.png")


def test_product_page_reads_slos_as_text_and_every_fed_by_cell(site, browser):
    browser.open((site / "products" / "sales.orders.html").as_uri())
    assert browser.js("Array.from(document.querySelectorAll('#v2 ul.slo li'))"
                      ".map(li => li.textContent)") == [
        "built successfully in at least 95% of runs",
        "builds in at most 300 s",
        "freshness measured on ordered_at",
        "data at most 24 h old",
        "customer_id: never empty",
        "at least 10 rows",
    ]
    cells = browser.js("""Array.from(document.querySelectorAll('section table.schema tr'))
        .slice(1).filter(tr => tr.cells.length === 5).map(tr => {
            const items = Array.from(tr.cells[4].querySelectorAll('.input')).map(d => {
                const r = d.getBoundingClientRect();
                return {top: r.top, bottom: r.bottom, text: d.textContent,
                        fits: d.scrollWidth <= tr.cells[4].clientWidth};
            });
            return {column: tr.cells[0].textContent, text: tr.cells[4].textContent.trim(),
                    items: items};
        })""")
    assert all(cell["text"] for cell in cells), [c["column"] for c in cells if not c["text"]]
    several = [c for c in cells if len(c["items"]) > 1]
    assert several  # net_amount is fed by two columns
    for cell in several:
        for above, below in zip(cell["items"], cell["items"][1:], strict=False):
            assert above["bottom"] <= below["top"], cell  # one input a line, no overlap
        assert all(item["fits"] for item in cell["items"]), cell
    screenshot(browser, "catalog_orders_schema.png")


def test_chart_captions_count_the_runs_they_draw(browser, tmp_path: Path):
    browser.open(chart_page(tmp_path, [
        sparkline([None, 100.0, None, 90.0, 100.0], "availability", " %", (0.0, 100.0)),
        sparkline([1.0, 2.0, 3.0], "build time", " s"),
    ]).as_uri())
    gaps, full = browser.js(CHART_FACTS)
    assert gaps["caption"] == "availability: 100 % (3 of 5 runs measured)"
    assert len(gaps["dots"]) == 3
    assert full["caption"] == "build time: 3 s (3 runs)" and len(full["dots"]) == 3
    # readable at its size: a plot at least 280 px wide, labels of 12 px
    assert gaps["plot"][0] >= 280 and gaps["plot"][1] >= 90
    sizes = browser.js("Array.from(document.querySelectorAll('text.axis'))"
                       ".map(t => getComputedStyle(t).fontSize)")
    assert set(sizes) == {"12px"}
