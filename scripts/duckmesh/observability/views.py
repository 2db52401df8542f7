"""Read-side queries for the CLI and the report: status, history, ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from duckmesh.core.project import MeshError
from duckmesh.observability.alerts import query_alerts
from duckmesh.observability.slo import LedgerRow, ledger, products_with_history
from duckmesh.observability.store import SCHEMA


@dataclass(frozen=True)
class ProductStatus:
    product: str
    owner: str
    version: int | None
    built_at: datetime | None
    rows: int | None
    breaches: tuple[str, ...]  # SLOs not met in the newest run
    availability_pct: float | None
    open_errors: int
    open_warnings: int

    @property
    def slo_state(self) -> str:
        if self.rows is None and self.built_at is None:
            return "not yet available"
        return "ok" if not self.breaches else "breached: " + ", ".join(self.breaches)


def product_status(con: duckdb.DuckDBPyConnection) -> list[ProductStatus]:
    """One row per product: its latest version as of the newest run that measured it."""
    rows = con.execute(f"""
        with ranked as (
            select m.*, r.started_at,
                row_number() over (partition by m.product
                                   order by r.started_at desc, m.version desc) as position
            from {SCHEMA}.product_metrics as m
            join {SCHEMA}.runs as r on r.run_id = m.run_id
            where m.is_latest
        )
        select product, owner, version, built_at, row_count, run_id
        from ranked where position = 1 order by product
    """).fetchall()
    open_alerts = query_alerts(con)
    statuses = []
    for product, owner, version, built_at, count, run_id in rows:
        # the SLOs as the newest run that checked them found them (a run that built
        # nothing checks none)
        breaches = con.execute(f"""
            select distinct slo || coalesce(' (' || column_name || ')', '')
            from {SCHEMA}.slo_status
            where product = ? and not met and run_id = (
                select s.run_id from {SCHEMA}.slo_status as s
                join {SCHEMA}.runs as r on r.run_id = s.run_id
                where s.product = ? order by r.started_at desc limit 1)
            order by 1""", [product, product]).fetchall()
        row = ledger(con, product, upto_run=run_id)
        mine = [a for a in open_alerts if a.product == product]
        statuses.append(ProductStatus(
            product, owner, version, built_at, count, tuple(b[0] for b in breaches),
            row.availability_pct, sum(a.severity == "error" for a in mine),
            sum(a.severity != "error" for a in mine)))
    return statuses


@dataclass(frozen=True)
class HistoryRow:
    run_id: str
    started_at: datetime
    run_status: str
    version: int | None
    build_status: str
    rows: int | None
    build_seconds: float | None
    freshness_lag_hours: float | None
    breaches: str
    alerts_raised: int


def product_history(con: duckdb.DuckDBPyConnection, product: str,
                    limit: int = 20) -> list[HistoryRow]:
    known = products_with_history(con)
    if product not in known:
        raise MeshError(
            f"no history for {product!r}: name a product as DOMAIN.PRODUCT, one of "
            f"{', '.join(known) or '(none recorded yet: run duckmesh build)'}")
    rows = con.execute(f"""
        select r.run_id, r.started_at, r.status, m.version, m.build_status, m.row_count,
            m.build_seconds, m.freshness_lag_hours,
            (select string_agg(distinct s.slo, ', ' order by s.slo)
             from {SCHEMA}.slo_status as s
             where s.run_id = r.run_id and s.product = m.product and not s.met),
            (select count(*) from {SCHEMA}.alerts as a
             where a.raised_run_id = r.run_id and a.product = m.product)
        from {SCHEMA}.product_metrics as m
        join {SCHEMA}.runs as r on r.run_id = m.run_id
        where m.product = ? and m.is_latest
        order by r.started_at desc
        limit ?
    """, [product, limit]).fetchall()
    return [HistoryRow(*r[:8], r[8] or "", r[9]) for r in rows]  # type: ignore[call-arg]


def all_ledgers(con: duckdb.DuckDBPyConnection, runs: int | None,
                days: float | None) -> list[LedgerRow]:
    return [ledger(con, product, runs=runs, days=days)
            for product in products_with_history(con)]


def series(con: duckdb.DuckDBPyConnection, product: str, limit: int = 60) -> list[tuple]:
    """(started_at, rows, build seconds, availability %, freshness hit %) per run, oldest
    first: the report's chart data."""
    rows = con.execute(f"""
        select r.started_at, m.row_count, m.build_seconds, l.availability_pct,
            l.freshness_hit_pct
        from {SCHEMA}.product_metrics as m
        join {SCHEMA}.runs as r on r.run_id = m.run_id
        left join {SCHEMA}.slo_ledger as l on l.run_id = m.run_id and l.product = m.product
        where m.product = ? and m.is_latest
        order by r.started_at desc
        limit ?
    """, [product, limit]).fetchall()
    return list(reversed(rows))
