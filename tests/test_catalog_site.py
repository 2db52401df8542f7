"""The static catalog site in headless Chromium (Debian's `chromium`, driven over the
DevTools protocol): open it from file://, search, filter, click through to a product
and read what a person would see. A screenshot is kept in test-artifacts/.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
import websocket

from conftest import REPO, duckmesh

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1000", "--remote-debugging-port=0"]
ARTIFACTS = Path(os.environ.get("DUCKMESH_TEST_ARTIFACTS", REPO / "test-artifacts"))


class Browser:
    """Just enough of the Chrome DevTools protocol to drive one page."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                                         "about:blank"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list").read())
        page = next(p for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 20) -> None:
        for _ in range(int(seconds * 10)):
            if self.js(expression):
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def click(self, selector: str) -> None:
        box = self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                      f".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                      button="left", clickCount=1)

    def visible_products(self) -> list[str]:
        return self.js("Array.from(document.querySelectorAll('li.product'))"
                       ".filter(li => li.offsetParent !== null)"
                       ".map(li => li.querySelector('a').textContent)")

    def close(self) -> None:
        self.ws.close()
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def site(built_mesh, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    duckmesh(built_mesh.root, "catalog", "site", "--out", str(out))
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run `make browser` (apt-get install chromium)")
    driver = Browser(tmp_path_factory.mktemp("chromium-profile"))
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
    browser.send("Input.insertText", text="csat")
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
    shot = browser.send("Page.captureScreenshot", format="png")["data"]
    path = ARTIFACTS / "catalog_product_page.png"
    path.write_bytes(base64.b64decode(shot))
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
    with duckdb.connect(str(built_mesh.db_path), read_only=True) as con:
        expected = con.execute("select from_id, to_id from mesh_catalog.lineage").fetchall()
    assert sorted(map(tuple, edges)) == sorted(expected)
    # a product box is a link to its page
    browser.click("a[href='products/marketing.attribution.html'] rect")
    browser.wait_for("location.href.endsWith('products/marketing.attribution.html')")
