"""Consumer latency: typical consumer queries on the published database
(published/mesh.duckdb, written by the publish step) against the same queries on the
build database. Warm: one read-only connection, median of --repeat runs. Cold: open
the file read-only, query, close; median of 5."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.bench_common import (
    Figure,
    add_standard_arguments,
    dbt_env,
    median,
    run_standard,
    work_copy,
)
from duckmesh.core import builddb
from duckmesh.core.project import Mesh, MeshError

QUERIES = {
    "revenue by month": """
        select date_trunc('month', order_date) as order_month, sum(net_amount) as revenue
        from sales.orders
        where not is_cancelled
        group by 1
        order by 1""",
    "customer_360 by key": """
        select * from analytics.customer_360 where customer_id = 'C00000042'""",
    "top campaigns": """
        select campaign_id, campaign_name, attributed_revenue_amount, return_on_ad_spend
        from marketing.campaign_performance
        order by attributed_revenue_amount desc
        limit 10""",
    "orders of one customer": """
        select order_id, ordered_at, order_status, net_amount
        from sales.orders
        where customer_id = 'C00000042'
        order by ordered_at desc
        limit 20""",
}
COLD_RUNS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 15, "warm runs")


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "consumer", measure)


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    with work_copy(mesh, scale, work) as (copy, data_dir):
        build_db = copy.root / "mesh.duckdb"
        env = dbt_env(build_db, data_dir, {"DUCKMESH_ROOT": str(copy.root)})
        result = subprocess.run([sys.executable, "-m", "duckmesh.cli", "--project-dir",
                                 str(copy.root), "build", "--scale", f"{scale:g}"],
                                cwd=copy.root, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise MeshError(f"build for the consumer benchmark failed:\n{result.stdout[-3000:]}"
                            f"\n{result.stderr[-2000:]}")
        published_db = copy.root / "published" / "mesh.duckdb"
        return _measure_queries(build_db, published_db if published_db.exists() else None,
                                scale, repeat)


def _measure_queries(build_db: Path, published_db: Path | None, scale: float, repeat: int
                     ) -> tuple[list[Figure], dict]:
    figures: list[Figure] = []
    details: dict = {"scale": scale, "published": str(published_db) if published_db else None}
    tag = f"scale {scale:g}"
    for name, sql in QUERIES.items():
        build_warm, build_cold = _time_query(build_db, sql, repeat)
        figures.append(Figure("consumer", f"{tag}: {name}, build db (warm)", build_warm,
                              unit="ms"))
        if published_db is None:
            figures.append(Figure("consumer", f"{tag}: {name}, published db", None, unit="ms",
                                  note="publish step not available"))
            continue
        try:
            pub_warm, pub_cold = _time_query(published_db, sql, repeat)
        except duckdb.Error as error:
            figures.append(Figure("consumer", f"{tag}: {name}, published db", None, unit="ms",
                                  note=str(error).splitlines()[0][:60]))
            continue
        figures.append(Figure("consumer", f"{tag}: {name}, published db (warm)", pub_warm,
                              unit="ms"))
        figures.append(Figure("consumer", f"{tag}: {name}, published / build", pub_warm
                              / build_warm, unit="x",
                              note=f"cold open+query {pub_cold:.1f} vs {build_cold:.1f} ms"))
        details[name] = {"build_warm_ms": build_warm, "build_cold_ms": build_cold,
                         "published_warm_ms": pub_warm, "published_cold_ms": pub_cold}
    return figures, details


def _time_query(db: Path, sql: str, repeat: int) -> tuple[float, float]:
    """Median milliseconds: warm (open connection) and cold (open, query, close). The
    build database is opened with its products file attached (core/builddb.py), as the
    platform opens it; a published file has none beside it."""
    con = builddb.connect(db, read_only=True)
    try:
        con.execute(sql).fetchall()  # first run: file pages into the cache
        warm = []
        for _ in range(repeat):
            started = time.perf_counter()
            con.execute(sql).fetchall()
            warm.append(1000 * (time.perf_counter() - started))
    finally:
        con.close()
    cold = []
    for _ in range(COLD_RUNS):
        started = time.perf_counter()
        con = builddb.connect(db, read_only=True)
        con.execute(sql).fetchall()
        con.close()
        cold.append(1000 * (time.perf_counter() - started))
    return median(warm), median(cold)
