"""The static catalog site in headless Chromium (Debian's `chromium`, driven by
Playwright's Python package through its executable_path: no browser download): open it
from file://, search, filter, click through to a product and read what a person would
see. A screenshot is kept in test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, duckmesh
from duckmesh.core import builddb

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("DUCKMESH_TEST_ARTIFACTS", REPO / "test-artifacts"))


class Browser:
    """One page of the system Chromium, through Playwright."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.chromium = self.playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS,
                                                        headless=True)
        self.page = self.chromium.new_page(viewport={"width": 1280, "height": 1000})

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def wait_for(self, expression: str, seconds: float = 20) -> None:
        self.page.wait_for_function(expression, timeout=seconds * 1000)

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="load")
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def click(self, selector: str) -> None:
        self.page.click(selector)  # a mouse click at the element's centre

    def type(self, text: str) -> None:
        self.page.keyboard.insert_text(text)

    def screenshot(self) -> bytes:
        return self.page.screenshot(type="png")

    def visible_products(self) -> list[str]:
        return self.js("Array.from(document.querySelectorAll('li.product'))"
                       ".filter(li => li.offsetParent !== null)"
                       ".map(li => li.querySelector('a').textContent)")

    def close(self) -> None:
        self.chromium.close()
        self.playwright.stop()


@pytest.fixture(scope="module")
def site(built_mesh, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    duckmesh(built_mesh.root, "catalog", "site", "--out", str(out))
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: apt-get install -y chromium (or make browser)")
    driver = Browser()
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def products(built_mesh) -> dict[str, dict]:
    """domain.product -> latest version's manifest node (independent of the catalog)."""
    manifest = json.loads((built_mesh.root / "target" / "manifest.json").read_text())
    return {f"{n['group']}.{n['name']}": n for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n.get("access") == "public"
            and n["version"] == n["latest_version"]}


def test_search_filter_and_click_through_to_a_product(site, browser, products):
    browser.open((site / "index.html").as_uri())
    assert browser.js("document.title") == "DuckMesh catalog"
    assert sorted(browser.visible_products()) == sorted(products)
    assert browser.js("document.getElementById('count').textContent") == \
        f"{len(products)} products"

    # type into the search box like a person
    browser.js("document.getElementById('search').focus()")
    browser.type("csat")
    expected = sorted(k for k, n in products.items()
                      if "csat" in (k + n["description"] + " ".join(n["columns"])).lower())
    browser.wait_for(f"document.getElementById('count').textContent === "
                     f"'{len(expected)} products'")
    assert sorted(browser.visible_products()) == expected

    # filter by domain on top of the search
    choose = ("(v => {{ const s = document.getElementById('domain-filter'); s.value = v; "
              "s.dispatchEvent(new Event('change')); return s.value; }})({!r})")
    assert browser.js(choose.format("analytics")) == "analytics"
    assert sorted(browser.visible_products()) == [k for k in expected
                                                   if k.startswith("analytics.")]
    assert browser.js(choose.format("")) == ""
    assert sorted(browser.visible_products()) == expected

    # click through to customer_service.satisfaction
    browser.click("li.product[data-domain='customer_service'] a[href$='satisfaction.html']")
    browser.wait_for("location.href.endsWith('products/customer_service.satisfaction.html') "
                     "&& document.readyState === 'complete'")
    node = products["customer_service.satisfaction"]
    assert browser.js("document.querySelector('h1').textContent") == \
        "customer_service.satisfaction"
    assert browser.js("document.getElementById('owner').textContent") == "Customer Care Team"
    assert browser.js("document.getElementById('description').textContent") == \
        " ".join(node["description"].split())
    columns = browser.js("Array.from(document.querySelectorAll('#v1 table.schema tr td:first-child'))"
                         ".map(td => td.textContent)")
    assert columns == list(node["columns"])
    fed_by = browser.js("Array.from(document.querySelectorAll('#v1 table.schema tr'))"
                        ".find(tr => tr.cells[0].textContent === 'customer_id').cells[4].textContent")
    assert fed_by == "customer_service:source:ticketing.tickets.customer_id"
    assert "select * from customer_service.satisfaction_v1" in browser.js(
        "document.querySelector('#v1 pre').textContent")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "catalog_product_page.png"
    path.write_bytes(browser.screenshot())
    print(f"screenshot: {path}")
    assert path.stat().st_size > 10_000


def test_versions_and_deprecation_on_the_orders_page(site, browser):
    browser.open((site / "products" / "sales.orders.html").as_uri())
    rows = browser.js("Array.from(document.querySelectorAll('#versions tr')).slice(1)"
                      ".map(tr => Array.from(tr.cells).slice(0, 4).map(td => td.textContent))")
    assert rows == [["v1", "deprecated", "2027-06-30", "sales.orders_v1"],
                    ["v2 (latest)", "active", "", "sales.orders_v2"]]
    assert browser.js("document.querySelector('#v1 p.deprecated').textContent") == \
        "Deprecated: removed after 2027-06-30; use v2."


def test_lineage_graph_links_sources_and_products(site, browser, built_mesh):
    browser.open((site / "lineage.html").as_uri())
    nodes = browser.js("Array.from(document.querySelectorAll('#lineage-graph g.node'))"
                       ".map(g => g.getAttribute('data-id'))")
    edges = browser.js("Array.from(document.querySelectorAll('#lineage-graph path.edge'))"
                       ".map(p => [p.getAttribute('data-from'), p.getAttribute('data-to')])")
    assert "urn:duckmesh:sales:orders:v2" in nodes
    assert "urn:duckmesh:sales:source:order_system.orders" in nodes
    assert ["urn:duckmesh:sales:orders:v2", "urn:duckmesh:marketing:attribution:v1"] in edges
    with builddb.connect(built_mesh.db_path, read_only=True) as con:
        expected = con.execute("select from_id, to_id from mesh_catalog.lineage").fetchall()
    assert sorted(map(tuple, edges)) == sorted(expected)
    # a product box is a link to its page
    browser.click("a[href='products/marketing.attribution.html'] rect")
    browser.wait_for("location.href.endsWith('products/marketing.attribution.html')")
