"""Observability: run history, SLOs, anomalies, alerts, ledger, CLI.

Two halves. A simulation records eight daily runs of one product (a table whose rows
the test rewrites, with dbt-shaped artifacts carrying controlled timestamps) and
asserts every alert, SLO status and ledger figure against a hand computation. The
real mesh (the session `built_mesh`, then a copy rebuilt twice, once broken) checks
that `duckmesh build` records every run, failed or not.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from conftest import BuiltMesh, clone_built, duckmesh
from duckmesh import cli
from duckmesh.core import builddb
from duckmesh.core.products import primary_key, public_products
from duckmesh.observability.anomaly import robust_z
from duckmesh.observability.config import AnomalyConfig, ObservabilityConfig
from duckmesh.observability.pipeline import Observation, observe
from duckmesh.observability.slo import ledger, percentile
from duckmesh.observability.store import SCHEMA

# --- the simulation ---------------------------------------------------------------------

MODEL = "model.shop.orders.v1"
TEST = "test.shop.not_null_orders_v1_customer_id.abc123"
OWNER = "Shop Team <shop@example.com>"
DAY0 = datetime(2024, 3, 1, tzinfo=UTC)
SLO = {"freshness_hours": 24, "freshness_column": "ordered_at", "min_rows": 6,
       "max_null_rate": {"customer_id": 0.2}, "build_budget_seconds": 2,
       "availability_pct": 90}

# day: (rows, newest order on day, null customer_ids, model status, build s, test status)
DAYS = {
    1: (10, 1, 0, "success", 1.0, "pass"),
    2: (10, 2, 0, "success", 1.5, "pass"),
    3: (10, 3, 0, "success", 1.2, "pass"),
    4: (5, 4, 0, "success", 1.1, "pass"),  # half the rows
    5: (10, 3, 0, "success", 3.0, "pass"),  # stale: newest order two days old; slow build
    6: (10, 6, 3, "success", 1.3, "fail"),  # 3 null customer ids, not_null test fails
    7: (10, 7, 3, "success", 1.4, "fail"),  # the same breaches again: no new alerts
    8: (None, None, None, "error", 0.5, "skipped"),  # the model fails: table left as day 7
}


def manifest() -> dict:
    node = {
        "unique_id": MODEL, "resource_type": "model", "access": "public", "group": "shop",
        "package_name": "shop", "name": "orders", "version": 1, "latest_version": 1,
        "schema": "shop", "alias": "orders_v1", "deprecation_date": None,
        "description": "Orders.", "config": {"meta": {"slo": SLO}},
        "constraints": [{"type": "primary_key", "columns": ["order_id"]}], "columns": {},
    }
    test = {
        "unique_id": TEST, "resource_type": "test", "package_name": "shop",
        "name": "not_null_orders_v1_customer_id", "attached_node": MODEL,
        "depends_on": {"nodes": [MODEL]}, "config": {"severity": "ERROR"},
    }
    return {"nodes": {MODEL: node, TEST: test}, "unit_tests": {},
            "groups": {"group.shop.shop": {"name": "shop", "owner": {
                "name": "Shop Team", "email": "shop@example.com"}}}}


def at(day: int, hour: int, minute: int = 0, seconds: float = 0) -> datetime:
    return DAY0 + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=seconds)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def run_results(day: int) -> dict:
    _, _, nulls, status, seconds, test_status = DAYS[day]
    model = {"unique_id": MODEL, "status": status, "execution_time": seconds,
             "failures": None, "message": "OK" if status == "success" else "boom",
             "timing": [{"name": "execute", "started_at": iso(at(day, 6, 1)),
                         "completed_at": iso(at(day, 6, 1, seconds))}]}
    test = {"unique_id": TEST, "status": test_status, "execution_time": 0.1,
            "failures": None if test_status == "skipped" else (nulls or 0),
            "message": None, "timing": []}
    return {"metadata": {"invocation_id": f"run-{day}", "dbt_version": "1.11.0",
                         "invocation_started_at": iso(at(day, 6)),
                         "generated_at": iso(at(day, 6, 10))},
            "elapsed_time": 600.0, "args": {"target": "dev", "which": "build"},
            "results": [model, test]}


def write_table(db: Path, day: int) -> None:
    rows, newest_day, nulls, status, _, _ = DAYS[day]
    if status != "success":
        return
    con = builddb.connect(db)
    con.execute("create schema if not exists shop")
    con.execute("create or replace table shop.orders_v1 (order_id varchar, "
                "customer_id varchar, ordered_at timestamptz)")
    for i in range(rows):
        # the newest order 10 minutes into its day, the others an hour apart before it
        ordered = at(newest_day, 0, 10) - timedelta(hours=i)
        customer = None if i < nulls else f"C{i}"
        con.execute("insert into shop.orders_v1 values (?, ?, ?)", [f"O{i}", customer, ordered])
    con.close()


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    handler = type("Handler", (Hook,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()
    server.server_close()



@dataclass(frozen=True)
class Simulation:
    root: Path
    db: Path
    observations: dict[int, Observation]
    stdout: str
    posts: list[dict]


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory,
               webhook: tuple[str, list[dict]]) -> Simulation:
    """Eight daily runs recorded as `duckmesh build` records them (as of each run's end)."""
    root = tmp_path_factory.mktemp("observability")
    (root / "dbt_project.yml").write_text("name: sim\n")
    (root / "packages.yml").write_text("packages: []\n")
    db = root / "sim.duckdb"
    url, posts = webhook
    config = ObservabilityConfig(as_of="now", alert_file=str(root / "alerts.jsonl"),
                                 webhook_url=url)
    observations = {}
    out = io.StringIO()
    with redirect_stdout(out):
        for day in DAYS:
            write_table(db, day)
            observations[day] = observe(root, db, manifest(), run_results(day), config,
                                        build_failed=DAYS[day][3] != "success")
    return Simulation(root, db, observations, out.getvalue(), posts)


def fetch(db: Path, query: str, params: list | None = None) -> list[tuple]:
    con = builddb.connect(db, read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


P = "shop.orders v1"
EXPECTED_ALERTS = [  # (id, raised on day, severity, kind, check, message)
    (1, 4, "error", "slo", "min_rows", f"{P}: completeness SLO breached: 5 rows (min 6)"),
    (2, 4, "warning", "anomaly", "volume",
     f"{P}: volume anomaly: 5 rows, -50.0% from the median 10 of the last 3 runs"),
    (3, 5, "error", "slo", "freshness",
     f"{P}: freshness SLO breached: newest ordered_at is 54.0 h old at 2024-03-05 06:10 UTC "
     "(max 24 h)"),
    (4, 5, "warning", "slo", "build_time",
     f"{P}: build-time SLO breached: built in 3.00 s (budget 2 s)"),
    (5, 5, "warning", "anomaly", "freshness_lag",
     f"{P}: freshness-lag anomaly: newest record 54.0 h old, 48.0 h above the median lag "
     "6.0 h of the last 4 runs"),
    (6, 6, "error", "slo", "max_null_rate",
     f"{P}: completeness SLO breached: customer_id is 30.0% null (max 20.0%)"),
    (7, 6, "warning", "anomaly", "null_rate",
     f"{P}: null-rate jump: customer_id is 30.0% null, up from a median of 0.0% over the "
     "last 5 runs"),
    (8, 6, "error", "test", "not_null_orders_v1_customer_id",
     f"{P}: test not_null_orders_v1_customer_id failed (3 failing rows)"),
    (9, 8, "error", "slo", "availability",
     f"{P}: availability SLO breached: shop.orders_v1 failed to build in this run"),
    (10, 8, "error", "slo", "freshness",
     f"{P}: freshness SLO breached: newest ordered_at is 30.0 h old at 2024-03-08 06:10 UTC "
     "(max 24 h)"),
    (11, 8, "warning", "anomaly", "freshness_lag",
     f"{P}: freshness-lag anomaly: newest record 30.0 h old, 24.0 h above the median lag "
     "6.0 h of the last 7 runs"),
]
# id: (status, resolved on day, times seen)
EXPECTED_LIFECYCLE = {
    1: ("resolved", 5, 1), 2: ("resolved", 5, 1), 3: ("resolved", 6, 1),
    4: ("resolved", 6, 1), 5: ("resolved", 6, 1), 6: ("open", None, 3), 7: ("open", None, 3),
    8: ("open", None, 2),  # day 8 skipped the test: neither seen nor resolved
    9: ("open", None, 1), 10: ("open", None, 1), 11: ("open", None, 1),
}


def test_history_holds_every_run_and_node(simulation: Simulation) -> None:
    runs = fetch(simulation.db, f"select run_id, status, started_at, ended_at, dbt_version, "
                 f"target, node_count from {SCHEMA}.runs order by started_at")
    # a failing test or model fails the run, as dbt build does
    assert [(r[0], r[1]) for r in runs] == [
        (f"run-{d}", "error" if d >= 6 else "success") for d in DAYS]
    assert runs[0][2:] == (at(1, 6), at(1, 6, 10), "1.11.0", "dev", 2)
    nodes = fetch(simulation.db, f"select run_id, status, execution_seconds from "
                  f"{SCHEMA}.node_runs where unique_id = ? order by run_id", [MODEL])
    assert nodes == [(f"run-{d}", DAYS[d][3], DAYS[d][4]) for d in DAYS]
    tests = fetch(simulation.db, f"select run_id, product, version, status, failures "
                  f"from {SCHEMA}.test_results order by run_id")
    assert tests == [(f"run-{d}", "shop.orders", 1, DAYS[d][5],
                      None if d == 8 else DAYS[d][2]) for d in DAYS]


def test_product_metrics_per_run(simulation: Simulation) -> None:
    metrics = fetch(simulation.db, f"""
        select m.run_id, row_count, key_distinct_count, build_status, available,
            freshness_max, freshness_lag_hours, c.null_rate
        from {SCHEMA}.product_metrics as m
        join {SCHEMA}.column_metrics as c using (run_id, product, version)
        where c.column_name = 'customer_id' order by m.run_id""")
    expected = []
    for day, (rows, newest, nulls, status, _, _) in DAYS.items():
        if day == 8:  # the failed build left day 7's table in place
            rows, newest, nulls = DAYS[7][:3]
        lag = (at(day, 6, 10) - at(newest, 0, 10)).total_seconds() / 3600
        expected.append((f"run-{day}", rows, rows, status, status == "success",
                         at(newest, 0, 10), lag, nulls / rows))
    assert metrics == expected
    assert [m[6] for m in metrics] == [6.0, 6.0, 6.0, 6.0, 54.0, 6.0, 6.0, 30.0]


def test_slo_status_of_the_stale_slow_day(simulation: Simulation) -> None:
    status = fetch(simulation.db, f"select slo, column_name, target, observed, met, message "
                   f"from {SCHEMA}.slo_status where run_id = 'run-5' order by slo")
    assert status == [
        ("availability", None, 90.0, 1.0, True, f"{P}: available"),
        ("build_time", None, 2.0, 3.0, False, EXPECTED_ALERTS[3][5]),
        ("freshness", "ordered_at", 24.0, 54.0, False, EXPECTED_ALERTS[2][5]),
        ("max_null_rate", "customer_id", 0.2, 0.0, True,
         f"{P}: customer_id is 0.0% null (max 20.0%)"),
        ("min_rows", None, 6.0, 10.0, True, f"{P}: 10 rows (min 6)"),
    ]


def test_exactly_one_alert_per_breach_with_the_owner(simulation: Simulation) -> None:
    alerts = fetch(simulation.db, f"select alert_id, raised_run_id, severity, kind, "
                   f"check_name, message, owner, product, status, resolved_run_id, "
                   f"occurrences from {SCHEMA}.alerts order by alert_id")
    assert [a[:6] for a in alerts] == [
        (i, f"run-{day}", severity, kind, check, message)
        for i, day, severity, kind, check, message in EXPECTED_ALERTS]
    assert {a[6] for a in alerts} == {OWNER} and {a[7] for a in alerts} == {"shop.orders"}
    assert {a[0]: (a[8], int(a[9][4:]) if a[9] else None, a[10])
            for a in alerts} == EXPECTED_LIFECYCLE
    # no alarm while there is no history, none repeated for an open breach
    raised = {day: [a.alert_id for a in o.raised] for day, o in simulation.observations.items()}
    assert raised == {1: [], 2: [], 3: [], 4: [1, 2], 5: [3, 4, 5], 6: [6, 7, 8], 7: [],
                      8: [9, 10, 11]}


def test_alerts_delivered_to_file_stdout_and_webhook(simulation: Simulation) -> None:
    lines = (simulation.root / "alerts.jsonl").read_text().splitlines()
    delivered = [json.loads(line) for line in lines]
    assert [(a["alert_id"], a["message"], a["owner"], a["severity"]) for a in delivered] == [
        (i, message, OWNER, severity) for i, _, severity, _, _, message in EXPECTED_ALERTS]
    assert delivered[0]["raised_at"] == "2024-03-04T06:10:00+00:00"
    # stdout gets one readable line per alert; JSON goes only to the alert file
    assert simulation.stdout.splitlines() == [
        f"alert {a['alert_id']} ({a['severity']}) {a['message']} [owner: {OWNER}]"
        for a in delivered]
    # one POST per run that raised alerts, with that run's alerts
    assert [[a["alert_id"] for a in post["alerts"]] for post in simulation.posts] == [
        [1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert simulation.posts[3]["alerts"][0]["message"] == EXPECTED_ALERTS[8][5]


def test_ledger_matches_hand_computation(simulation: Simulation) -> None:
    con = builddb.connect(simulation.db, read_only=True)
    try:
        whole = ledger(con, "shop.orders", runs=30)
        last4 = ledger(con, "shop.orders", runs=4)
        days3 = ledger(con, "shop.orders", runs=None, days=3)
        upto4 = ledger(con, "shop.orders", runs=30, upto_run="run-4")
    finally:
        con.close()
    # availability: days 1-7 built, day 8 failed; freshness breached on days 5 and 8
    assert (whole.runs, whole.available_runs, whole.availability_pct) == (8, 7, 87.5)
    assert whole.availability_target_pct == 90.0 and whole.availability_met is False
    assert (whole.freshness_checks, whole.freshness_met, whole.freshness_hit_pct) == (8, 6, 75.0)
    # successful builds 1.0 1.1 1.2 1.3 1.4 1.5 3.0: p50 the 4th; p95 at rank 5.7
    assert whole.build_p50_seconds == pytest.approx(1.3)
    assert whole.build_p95_seconds == pytest.approx(1.5 + (3.0 - 1.5) * 0.7)
    assert (last4.runs, last4.availability_pct, last4.freshness_hit_pct) == (4, 75.0, 50.0)
    assert last4.build_p50_seconds == pytest.approx(1.4)  # days 5-7: 1.3 1.4 3.0
    assert last4.build_p95_seconds == pytest.approx(1.4 + (3.0 - 1.4) * 0.9)
    assert (days3.runs, days3.available_runs) == (3, 2)  # days 6, 7, 8
    assert (upto4.runs, upto4.availability_pct, upto4.freshness_hit_pct) == (4, 100.0, 100.0)
    stored = fetch(simulation.db, f"select run_id, runs, availability_pct, freshness_hit_pct, "
                   f"availability_met from {SCHEMA}.slo_ledger order by run_id")
    assert stored[-1] == ("run-8", 8, 87.5, 75.0, False)
    assert stored[4] == ("run-5", 5, 100.0, 80.0, True)


def test_percentile_and_robust_z() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0], 0.95) == pytest.approx(1.95)
    assert percentile([], 0.5) is None
    # median 10, MAD 1: 0.6745 * (14 - 10) / 1
    assert robust_z(14, [9, 10, 11, 10, 12]) == pytest.approx(0.6745 * 4)
    assert robust_z(10, [10, 10, 10]) == 0.0
    assert robust_z(5, [10, 10, 10]) == float("-inf")


def test_no_anomaly_before_min_history(tmp_path: Path) -> None:
    """Half the rows on the third run: with min_history 3 there is no history yet."""
    (tmp_path / "dbt_project.yml").write_text("name: sim\n")
    db = tmp_path / "early.duckdb"
    config = ObservabilityConfig(alert_file=str(tmp_path / "a.jsonl"),
                                 anomaly=AnomalyConfig(min_history=3))
    out = io.StringIO()
    with redirect_stdout(out):
        for day in (1, 2, 4):  # 10, 10, then 5 rows
            write_table(db, day)
            results = run_results(day)
            results["metadata"]["invocation_id"] = f"early-{day}"
            observation = observe(tmp_path, db, manifest(), results, config)
    assert [a.check for a in observation.raised] == ["min_rows"]
    assert observation.anomalies == []


def test_cli_over_the_simulated_history(simulation: Simulation,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKMESH_DB", str(simulation.db))
    root = str(simulation.root)
    assert cli.main(["--project-dir", root, "alerts"]) == 1  # error alerts are open
    out, err = capsys.readouterr()
    assert err.strip() == "duckmesh alerts: 4 open alert(s) of severity error"
    assert sum(1 for line in out.splitlines() if "Shop Team" in line) == 6
    assert cli.main(["--project-dir", root, "alerts", "--fail-on", "never", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["alert_id"] for a in listed] == [6, 7, 8, 9, 10, 11]

    assert cli.main(["--project-dir", root, "ledger", "--runs", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "SLO ledger over the last 4 runs, the newest run included"
    assert out[3].split() == ["shop.orders", "4", "75.0%", "90%", "(missed)", "50.0%",
                              "1.40", "2.84"]

    assert cli.main(["--project-dir", root, "history", "shop.orders", "--limit", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].split() == ["2024-03-08", "06:00", "run-8", "error", "v1", "error", "10",
                              "0.50", "30.0", "availability,", "freshness,",
                              "max_null_rate", "3"]
    assert out[4].split()[2:] == ["run-6", "error", "v1", "success", "10", "1.30", "6.0",
                                  "max_null_rate", "3"]

    report = simulation.root / "report" / "observability.html"
    assert cli.main(["--project-dir", root, "status", "--html", str(report)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].split()[:7] == ["shop.orders", "Shop", "Team", "v1", "2024-03-07", "06:01",
                                  "10"]
    assert "breached: availability, freshness (ordered_at), max_null_rate (customer_id)" \
        in out[2]
    page = report.read_text()
    assert page.count("<svg") == 4 and "<script" not in page and "http" not in \
        page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # the rows chart has one point per run; its label is the last run's row count
    rows_chart = page.split("<figure")[1]
    assert rows_chart.count("<circle") == 8 and "rows: <b>10</b>" in rows_chart


def test_cli_errors_name_the_fix(simulation: Simulation, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUCKMESH_DB", str(simulation.db))
    assert cli.main(["--project-dir", str(simulation.root), "history", "shop.ordrs"]) == 1
    assert capsys.readouterr().err.strip() == (
        "duckmesh history: error: no history for 'shop.ordrs': name a product as "
        "DOMAIN.PRODUCT, one of shop.orders")
    monkeypatch.setenv("DUCKMESH_DB", str(tmp_path / "empty.duckdb"))
    assert cli.main(["--project-dir", str(simulation.root), "status"]) == 1
    assert "run `duckmesh build` (which records every run)" in capsys.readouterr().err
    monkeypatch.setenv("DUCKMESH_AS_OF", "yesterday")
    assert cli.main(["--project-dir", str(simulation.root), "observe"]) == 1
    assert "as_of 'yesterday' is not a timestamp: write ISO 8601" in capsys.readouterr().err


def test_webhook_failure_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: sim\n")
    db = tmp_path / "down.duckdb"
    write_table(db, 4)
    config = ObservabilityConfig(alert_file=str(tmp_path / "a.jsonl"),
                                 webhook_url="http://127.0.0.1:9/unreachable",
                                 webhook_timeout_seconds=2)
    with redirect_stdout(io.StringIO()):
        observation = observe(tmp_path, db, manifest(), run_results(4), config)
    assert [a.check for a in observation.raised] == ["min_rows"]
    assert len(observation.problems) == 1
    assert observation.problems[0].startswith(
        "could not POST 1 alert(s) to the webhook http://127.0.0.1:9/unreachable:")


# --- the real mesh ----------------------------------------------------------------------

def test_build_records_the_run(built_mesh: BuiltMesh) -> None:
    """`duckmesh build` recorded its run: nodes, tests, metrics equal to fresh counts."""
    results = json.loads((built_mesh.root / "target" / "run_results.json").read_text())
    db = built_mesh.db_path
    runs = fetch(db, f"select run_id, status, dbt_version, target, node_count, as_of "
                 f"from {SCHEMA}.runs")
    assert runs == [(results["metadata"]["invocation_id"], "success",
                     results["metadata"]["dbt_version"], "dev", len(results["results"]),
                     datetime(2025, 12, 31, tzinfo=UTC))]
    statuses = fetch(db, f"select unique_id, status from {SCHEMA}.node_runs")
    assert sorted(statuses) == sorted((r["unique_id"], r["status"]) for r in results["results"])
    metrics = fetch(db, f"select relation, row_count, key_distinct_count, freshness_max "
                    f"from {SCHEMA}.product_metrics order by relation")
    assert len(metrics) == 10  # every product version, deprecated sales.orders_v1 too
    manifest = json.loads((built_mesh.root / "target" / "manifest.json").read_text())
    keys = {p.relation: primary_key(manifest["nodes"][p.unique_id])
            for p in public_products(manifest)}
    con = builddb.connect(db, read_only=True)
    try:
        for relation, rows, distinct, _ in metrics:
            # a key whose unique test passed is not scanned again: its non-null count
            assert (rows, distinct) == con.execute(
                f"select count(*), count(distinct {keys[relation][0]}) from {relation}"
            ).fetchone(), relation
        newest, distinct = con.execute(
            "select max(ordered_at), count(distinct order_id) from sales.orders_v2").fetchone()
    finally:
        con.close()
    assert dict((m[0], m[2:]) for m in metrics)["sales.orders_v2"] == (distinct, newest)
    # tests run on products are attributed to them; all pass on the generated data
    on_orders = {uid for uid, node in manifest["nodes"].items() if node.get("attached_node")
                 in ("model.sales.orders.v1", "model.sales.orders.v2")}
    tested = fetch(db, f"select test_id, status from {SCHEMA}.test_results "
                   f"where product = 'sales.orders'")
    assert {test for test, _ in tested} == on_orders and len(on_orders) > 5
    assert {status for _, status in tested} == {"pass"}
    # the default as-of (the end of the generated data) keeps fresh data fresh
    (breached, evaluated), = fetch(db, f"select count(*) filter (where not met), count(*) "
                                   f"from {SCHEMA}.slo_status")
    assert breached == 0 and evaluated >= 9 * 4  # four SLOs per product at least
    assert fetch(db, f"select count(*) from {SCHEMA}.alerts") == [(0,)]
    assert f"SLOs {evaluated}/{evaluated} met; 0 anomalies; alerts 0 new, 0 resolved, 0 open" \
        in built_mesh.build_output


def test_status_command_on_the_built_mesh(built_mesh: BuiltMesh) -> None:
    out = duckmesh(built_mesh.root, "status").stdout.splitlines()
    assert len(out) == 2 + 9  # header, rule, one line per product
    orders = next(line for line in out if line.startswith("sales.orders "))
    assert orders.split()[1:5] == ["Sales", "Ops", "Team", "v2"]
    assert orders.split()[7:] == ["10,000", "ok", "100.0%", "0"]
    gate = duckmesh(built_mesh.root, "alerts", check=False)
    assert (gate.returncode, gate.stdout.strip()) == (0, "no open alerts")


@pytest.mark.e2e
def test_a_failed_second_build_appends_history(built_mesh: BuiltMesh, tmp_path: Path) -> None:
    """A copy of the built mesh, its customers product broken, rebuilt (customers only)."""
    root = tmp_path / "mesh"
    clone_built(built_mesh.root, root)
    model = root / "domains" / "customers" / "models" / "products" / "customers_v1.sql"
    model.write_text(model.read_text().replace(
        "        country_code,", "        cast(country_code as integer) as country_code,"))
    broken = duckmesh(root, "build", "--scale", "0.01", "--select", "package:customers",
                      check=False)
    assert broken.returncode == 1
    db = root / "mesh.duckdb"
    runs = fetch(db, f"select run_id, status from {SCHEMA}.runs order by started_at")
    assert [status for _, status in runs] == ["success", "error"]
    assert fetch(db, f"select count(*) from {SCHEMA}.product_metrics group by run_id "
                 f"order by min(measured_at)") == [(10,), (10,)]
    failed = fetch(db, f"select status from {SCHEMA}.node_runs where run_id = ? "
                   f"and unique_id = 'model.customers.customers.v1'", [runs[1][0]])
    assert failed == [("error",)]
    alerts = fetch(db, f"select product, owner, severity, message, raised_run_id "
                   f"from {SCHEMA}.alerts")
    message = ("customers.customers v1: availability SLO breached: "
               "customers.customers_v1 failed to build in this run")
    assert alerts == [("customers.customers", "CRM Team <crm-team@duckmesh.example>",
                       "error", message, runs[1][0])]
    assert [line for line in broken.stdout.splitlines() if line.startswith(("alert ", "{"))] \
        == [f"alert 1 (error) {message} [owner: CRM Team <crm-team@duckmesh.example>]"]
    delivered = (root / "logs" / "duckmesh_alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["message"] for line in delivered] == [message]
    gate = duckmesh(root, "alerts", check=False)
    assert gate.returncode == 1 and "CRM Team" in gate.stdout


def test_a_locked_database_is_a_clear_error(simulation: Simulation) -> None:
    holder = builddb.connect(simulation.db)  # as a running build would
    try:
        done = duckmesh(simulation.root, "status", env={"DUCKMESH_DB": str(simulation.db)},
                        check=False, fresh_process=True)  # the lock is another process's
    finally:
        holder.close()
    assert done.returncode == 1
    assert done.stderr.startswith(f"duckmesh status: error: cannot open {simulation.db}: ")
    assert done.stderr.rstrip().endswith(
        "(another process, e.g. a running build or a DuckDB shell, holds the file: "
        "wait for it or close it, then retry)")
