"""OpenLineage out: the last build's lineage as standard events, to a file by default and
to an HTTP endpoint (a collector the test runs on 127.0.0.1) when configured. The
lineage of sales.order_items v1 is checked against a list written by hand from its SQL
(domains/sales/models/intermediate/int_order_items_enriched.sql)."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import BuiltMesh, clone_built, duckmesh

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openlineage") is None,
                                reason="the lineage extra is not installed: make lineage")

LINES = "sales/order_lines/*.parquet"
# by hand: order_items_v1 <- int_order_items_enriched <- stg_order_system__order_lines
# (the order_lines drop) joined to stg_sales__products (the products seed)
ORDER_ITEMS_INPUTS = {("file", LINES), ("duckmesh", "sales.products")}
ORDER_ITEMS_COLUMNS = {
    "order_item_id": {("file", LINES, "order_line_id")},
    "product_name": {("duckmesh", "sales.products", "product_name")},
    "product_category": {("duckmesh", "sales.products", "category")},
    "gross_amount": {("file", LINES, "quantity"), ("file", LINES, "unit_price")},
    "net_amount": {("file", LINES, "quantity"), ("file", LINES, "unit_price"),
                   ("file", LINES, "discount")},
}
PRIVATE = ("int_order_items_enriched", "stg_order_system", "stg_sales__products",
           "int_orders_totals", "stg_crm__customers")


@pytest.fixture(scope="module")
def mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone_built(built_mesh.root, tmp_path_factory.mktemp("openlineage") / "mesh")


def _by_job(events: list[dict]) -> dict[str, list[dict]]:
    jobs: dict[str, list[dict]] = {}
    for event in events:
        jobs.setdefault(event["job"]["name"], []).append(event)
    return jobs


def test_the_last_build_is_written_as_openlineage_events(mesh: Path) -> None:
    result = duckmesh(mesh, "catalog", "openlineage")
    written = sorted((mesh / "target" / "openlineage").glob("*.jsonl"))
    assert len(written) == 1
    assert result.stdout.strip() == (f"OpenLineage: 22 events (10 product runs) -> "
                                     f"target/openlineage/{written[0].name}")
    text = written[0].read_text()
    assert not [name for name in PRIVATE if name in text]
    events = [json.loads(line) for line in text.splitlines()]
    assert all(e["schemaURL"].startswith("https://openlineage.io/spec/2-") for e in events)
    build_run = events[0]["run"]["runId"]
    assert written[0].name == f"{build_run}.jsonl"
    assert [(events[0]["job"]["name"], events[0]["eventType"]),
            (events[-1]["job"]["name"], events[-1]["eventType"])] == [
        ("duckmesh.build", "START"), ("duckmesh.build", "COMPLETE")]

    jobs = _by_job(events)
    start, complete = jobs["sales.order_items_v1"]
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"] != build_run
    assert complete["run"]["facets"]["parent"]["run"]["runId"] == build_run
    assert {(i["namespace"], i["name"]) for i in complete["inputs"]} == ORDER_ITEMS_INPUTS
    (output,) = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("duckmesh", "sales.order_items_v1")
    assert output["facets"]["ownership"]["owners"] == [
        {"name": "team:Sales Ops Team", "type": "OWNER"}]
    schema = {f["name"]: f["type"] for f in output["facets"]["schema"]["fields"]}
    assert schema["net_amount"] == "decimal(18,2)" and len(schema) == 11
    lineage = output["facets"]["columnLineage"]["fields"]
    for column, expected in ORDER_ITEMS_COLUMNS.items():
        assert {(f["namespace"], f["name"], f["field"])
                for f in lineage[column]["inputFields"]} == expected, column


class _Collector(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def collector() -> Iterator[str]:
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_events_go_to_an_http_endpoint_when_one_is_configured(
        mesh: Path, collector: str) -> None:
    result = duckmesh(mesh, "catalog", "openlineage", env={"OPENLINEAGE_URL": collector})
    assert result.stdout.strip() == "OpenLineage: 22 events (10 product runs) -> http"
    received = _Collector.received
    assert len(received) == 22
    assert {e["job"]["name"] for e in received} >= {"duckmesh.build", "sales.order_items_v1",
                                                    "analytics.customer_360_v1"}


def test_an_unreachable_endpoint_is_one_line(mesh: Path) -> None:
    result = duckmesh(mesh, "catalog", "openlineage",
                      env={"OPENLINEAGE_URL": "http://127.0.0.1:9"}, check=False)
    assert result.returncode == 1
    assert "OpenLineage: sending the events to http failed: " in result.stderr
    assert "check OPENLINEAGE_URL or openlineage.yml (docs/lineage.md)" in result.stderr
    assert "Traceback" not in result.stderr
