"""Alerts say what happened, after failures too.

Recorded through ``observe`` as `duckmesh build` records runs, on the simulated product
of test_observability (one table whose rows the test writes, dbt-shaped artifacts)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from duckmesh.observability.alerts import Finding, reconcile
from duckmesh.observability.config import ObservabilityConfig
from duckmesh.observability.history import run_label
from duckmesh.observability.pipeline import Observation, observe
from duckmesh.observability.store import SCHEMA, ensure_schema
from duckmesh.observability.views import product_status
from test_observability import manifest, run_results, write_table

pytestmark = pytest.mark.unit

P = "shop.orders v1"


def _observe(root: Path, day: int, *, failed: bool = False, data_set: str | None = None,
             invocation: str | None = None) -> Observation:
    results = run_results(day)
    if invocation:
        results["metadata"]["invocation_id"] = invocation
    config = ObservabilityConfig(alert_file=str(root / "alerts.jsonl"))
    with redirect_stdout(io.StringIO()):
        return observe(root, root / "sim.duckdb", manifest(), results, config,
                       build_failed=failed, data_set=data_set)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    (tmp_path / "dbt_project.yml").write_text("name: sim\n")
    return tmp_path


def _open_alerts(root: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(root / "sim.duckdb"), read_only=True) as con:
        return con.execute(f"select check_name, message from {SCHEMA}.alerts "
                           "where status = 'open' order by alert_id").fetchall()


def test_a_product_never_built_is_not_yet_available_not_breached(root: Path) -> None:
    write_table(root / "sim.duckdb", 8)  # day 8: the model fails, no table is written
    with duckdb.connect(str(root / "sim.duckdb")) as con:  # as an older DuckMesh left it
        ensure_schema(con)
        reconcile(con, "old-run", datetime(2024, 2, 1, tzinfo=UTC), [Finding(
            "slo:shop.orders:availability", "slo", "availability", "shop.orders", 1, "",
            "error", f"{P}: availability SLO breached: shop.orders_v1 does not exist")],
            set())
    observation = _observe(root, 8)
    assert observation.raised == [] and observation.slo_results == []
    assert [a.check for a in observation.resolved] == ["availability"]
    assert _open_alerts(root) == []
    with duckdb.connect(str(root / "sim.duckdb"), read_only=True) as con:
        [status] = product_status(con)
    assert (status.product, status.rows, status.slo_state) == (
        "shop.orders", None, "not yet available")


def test_a_run_that_built_nothing_resolves_nothing_and_says_so(root: Path) -> None:
    for day in (1, 2, 3, 4):  # day 4: half the rows, two alerts open
        write_table(root / "sim.duckdb", day)
        _observe(root, day)
    before = _open_alerts(root)
    assert [check for check, _ in before] == ["min_rows", "volume"]
    # a build that failed before dbt wrote results (governance): the last results again
    first = _observe(root, 4, failed=True)
    second = _observe(root, 4, failed=True)
    assert (first.resolved, second.resolved, first.slo_results) == ([], [], [])
    label = run_label(first.run.run_id)
    assert label == first.run.run_id and label.startswith("failed-")
    assert run_label(second.run.run_id) != label  # two failed runs never look alike
    assert [a.message for a in first.raised] == [
        f"build {label} built nothing: it stopped before any model ran (a check before dbt, "
        "governance, a parse or a compilation error); every product keeps its last build: "
        "see the build's output or logs/dbt.log"]
    assert second.raised == []  # the same failure is seen again, not raised again
    assert _open_alerts(root) == [*before, ("build", first.raised[0].message)]
    assert first.summary() == (
        f"observability: run {label} (error) recorded: 0 nodes, 1 product versions; nothing "
        "built, so no SLO or anomaly checked; alerts 1 new, 0 resolved, 3 open")
    # the next run that builds resolves the failure and checks the product again
    write_table(root / "sim.duckdb", 5)
    fixed = _observe(root, 5)
    assert "build" in [a.check for a in fixed.resolved]
    assert run_label(fixed.run.run_id) == "run-5"


@pytest.mark.parametrize(("day4_data", "anomalies"), [
    ("data/scale_0.1 (seed 42)", ["volume"]),  # same data set: half the rows is an anomaly
    ("data/scale_0.01 (seed 42)", []),  # another scale: a new baseline, no history yet
])
def test_a_data_set_switch_starts_a_new_baseline(root: Path, day4_data: str,
                                                 anomalies: list[str]) -> None:
    for day in (1, 2, 3):
        write_table(root / "sim.duckdb", day)
        _observe(root, day, data_set="data/scale_0.1 (seed 42)")
    write_table(root / "sim.duckdb", 4)
    observation = _observe(root, 4, data_set=day4_data)
    assert [a.check for a in observation.anomalies] == anomalies
    assert [a.check for a in observation.raised] == ["min_rows", *anomalies]
