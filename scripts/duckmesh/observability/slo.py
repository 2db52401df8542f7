"""SLOs declared in each product's ``meta.slo``, evaluated after every run, and the
ledger of their attainment over the last N runs (or days).

    meta:
      slo:
        freshness_hours: 24          # newest record (freshness_column) at most 24 h old
        freshness_column: ordered_at # without it: hours since the last successful build
        min_rows: 10                 # completeness: at least this many rows
        max_null_rate: {customer_id: 0.0}   # or one number for every column
        build_budget_seconds: 120    # warning when the model takes longer to build
        availability_pct: 99         # target share of runs the product was available

SLOs are evaluated on each product's latest version (what ``<schema>.<product>``
serves); every version is measured (product_metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from duckmesh.core.project import MeshError
from duckmesh.observability.history import Measurement, Product
from duckmesh.observability.store import SCHEMA

NUMERIC_KEYS = ("freshness_hours", "min_rows", "build_budget_seconds", "availability_pct")


@dataclass(frozen=True)
class ProductState:
    """One product version after a run: what was built and what its relation holds."""

    product: Product
    measurement: Measurement
    build_status: str  # dbt's status this run, or "not_run"
    build_seconds: float | None
    built_at: datetime | None  # end of the last successful build, this run or earlier
    available: bool
    freshness_lag_hours: float | None  # as_of minus the newest freshness_column value


@dataclass(frozen=True)
class SloResult:
    product: str
    version: int | None
    slo: str  # availability, freshness, min_rows, max_null_rate, build_time
    column: str | None
    target: float | None
    observed: float | None
    met: bool
    message: str
    severity: str  # of the alert a breach raises

    @property
    def alert_key(self) -> str:
        return f"slo:{self.product}:{self.slo}" + (f":{self.column}" if self.column else "")


def slo_settings(product: Product) -> dict[str, Any]:
    """The product's SLO block, numbers checked; the error names the product and key."""
    slo = dict(product.slo)
    for key in NUMERIC_KEYS:
        if key in slo and not _is_number(slo[key]):
            raise MeshError(
                f"{product.key}: meta.slo.{key} is {slo[key]!r}; write a number "
                f"in domains/<domain>/models/products/_products.yml")
    rates = slo.get("max_null_rate")
    if rates is not None:
        values = rates.values() if isinstance(rates, dict) else [rates]
        if not all(_is_number(v) and 0 <= v <= 1 for v in values):
            raise MeshError(
                f"{product.key}: meta.slo.max_null_rate is {rates!r}; write a share "
                "between 0 and 1, or a mapping column: share")
    return slo


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def evaluate(state: ProductState, run_ended_at: datetime, as_of: datetime) -> list[SloResult]:
    """Every SLO of one (latest) product version after a run."""
    product = state.product
    slo = slo_settings(product)
    version = product.version
    label = f"{product.key} v{version.version}" if version.version is not None else product.key
    results = []

    def add(name: str, column: str | None, target: float | None, observed: float | None,
            met: bool, message: str, severity: str = "error") -> None:
        results.append(SloResult(product.key, version.version, name, column, target, observed,
                                 met, f"{label}: {message}", severity))

    target = slo.get("availability_pct")
    target = float(target) if target is not None else None
    if not state.measurement.exists:
        if state.built_at is None:  # never built: not yet available, nothing breached
            return results
        add("availability", None, target, 0.0, False,
            f"availability SLO breached: {version.relation} does not exist")
        return results
    if state.build_status in ("error", "skipped"):
        why = "failed to build" if state.build_status == "error" else \
            "was skipped because an upstream node failed"
        add("availability", None, target, 0.0, False,
            f"availability SLO breached: {version.relation} {why} in this run")
    else:
        add("availability", None, target, 1.0, True, "available")

    if "freshness_hours" in slo:
        results.append(_freshness(state, slo, run_ended_at, as_of, label))

    rows = state.measurement.row_count or 0
    if "min_rows" in slo:
        minimum = float(slo["min_rows"])
        met = rows >= minimum
        add("min_rows", None, minimum, float(rows), met,
            f"{rows:,} rows (min {slo['min_rows']:,})" if met else
            f"completeness SLO breached: {rows:,} rows (min {slo['min_rows']:,})")

    rates = slo.get("max_null_rate")
    if rates is not None and rows:
        nulls = state.measurement.null_counts
        limits = rates if isinstance(rates, dict) else {column: rates for column in nulls}
        for column, limit in limits.items():
            if column not in nulls:
                add("max_null_rate", column, float(limit), None, False,
                    f"completeness SLO names column {column}, which {version.relation} "
                    "does not have: fix meta.slo.max_null_rate")
                continue
            rate = nulls[column] / rows
            met = rate <= limit
            add("max_null_rate", column, float(limit), rate, met,
                f"{column} is {_pct(rate)} null (max {_pct(limit)})" if met else
                f"completeness SLO breached: {column} is {_pct(rate)} null (max {_pct(limit)})")

    budget = slo.get("build_budget_seconds")
    built = state.build_seconds is not None and state.build_status == "success"
    if budget is not None and built:
        met = state.build_seconds <= budget
        add("build_time", None, float(budget), state.build_seconds, met,
            f"built in {state.build_seconds:.2f} s (budget {budget:g} s)" if met else
            f"build-time SLO breached: built in {state.build_seconds:.2f} s "
            f"(budget {budget:g} s)", severity="warning")
    return results


def _freshness(state: ProductState, slo: dict, run_ended_at: datetime, as_of: datetime,
               label: str) -> SloResult:
    product = state.product
    limit = float(slo["freshness_hours"])
    column = slo.get("freshness_column")

    def result(observed: float | None, met: bool, message: str) -> SloResult:
        return SloResult(product.key, product.version.version, "freshness", column, limit,
                         observed, met, f"{label}: {message}", "error")

    if column:
        if column not in state.measurement.null_counts:
            return result(None, False, f"freshness SLO names column {column}, which "
                          f"{product.version.relation} does not have: fix "
                          "meta.slo.freshness_column")
        if state.freshness_lag_hours is None:
            return result(None, False, f"freshness SLO breached: no {column} values")
        lag = state.freshness_lag_hours
        met = lag <= limit
        what = f"newest {column} is {lag:.1f} h old at {as_of:%Y-%m-%d %H:%M} UTC " \
               f"(max {limit:g} h)"
        return result(lag, met, what if met else f"freshness SLO breached: {what}")
    if state.built_at is None:
        return result(None, False, "freshness SLO breached: never built successfully")
    age = (run_ended_at - state.built_at).total_seconds() / 3600
    met = age <= limit
    what = f"last successful build {age:.1f} h ago (max {limit:g} h)"
    return result(age, met, what if met else f"freshness SLO breached: {what}")


# --- the ledger -------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerRow:
    product: str
    window_runs: int | None
    window_days: float | None
    runs: int
    available_runs: int
    availability_pct: float | None
    availability_target_pct: float | None
    freshness_checks: int
    freshness_met: int
    freshness_hit_pct: float | None
    build_p50_seconds: float | None
    build_p95_seconds: float | None
    build_budget_seconds: float | None

    @property
    def availability_met(self) -> bool | None:
        if self.availability_target_pct is None or self.availability_pct is None:
            return None
        return self.availability_pct >= self.availability_target_pct


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, DuckDB quantile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ledger(con: duckdb.DuckDBPyConnection, product: str, runs: int | None = 30,
           days: float | None = None, upto_run: str | None = None) -> LedgerRow:
    """Attainment over the product's last ``runs`` runs, or the runs that started in the
    ``days`` before the newest one (up to and including ``upto_run``, default newest)."""
    params: list[Any] = [product]
    upto = ""
    if upto_run:
        upto = f"and r.started_at <= (select started_at from {SCHEMA}.runs where run_id = ?)"
        params.append(upto_run)
    window = f"""
        select s.run_id, r.started_at, s.met, s.target
        from {SCHEMA}.slo_status as s
        join {SCHEMA}.runs as r on r.run_id = s.run_id
        where s.product = ? and s.slo = 'availability' {upto}
        order by r.started_at desc, r.run_id desc
    """
    rows = con.execute(window, params).fetchall()
    if days is not None and rows:
        newest = rows[0][1]
        rows = [r for r in rows if (newest - r[1]).total_seconds() < days * 86400]
    elif runs is not None:
        rows = rows[:runs]
    run_ids = [r[0] for r in rows]
    available = sum(1 for r in rows if r[2])
    target = rows[0][3] if rows else None
    fresh = _in_runs(con, "select met from {SCHEMA}.slo_status where product = ? "
                     "and slo = 'freshness' and run_id in ({ids})", product, run_ids)
    builds = [r[0] for r in _in_runs(
        con, "select build_seconds from {SCHEMA}.product_metrics where product = ? "
        "and is_latest and build_status = 'success' and run_id in ({ids})", product, run_ids)]
    budget = _in_runs(con, "select target from {SCHEMA}.slo_status where product = ? "
                      "and slo = 'build_time' and run_id in ({ids}) limit 1", product, run_ids)
    fresh_met = sum(1 for (met,) in fresh if met)
    return LedgerRow(
        product=product, window_runs=None if days is not None else runs, window_days=days,
        runs=len(rows), available_runs=available,
        availability_pct=100 * available / len(rows) if rows else None,
        availability_target_pct=target,
        freshness_checks=len(fresh), freshness_met=fresh_met,
        freshness_hit_pct=100 * fresh_met / len(fresh) if fresh else None,
        build_p50_seconds=percentile(builds, 0.5), build_p95_seconds=percentile(builds, 0.95),
        build_budget_seconds=budget[0][0] if budget else None,
    )


def _in_runs(con: duckdb.DuckDBPyConnection, query: str, product: str,
             run_ids: list[str]) -> list[tuple]:
    if not run_ids:
        return []
    ids = ", ".join("?" for _ in run_ids)
    return con.execute(query.format(SCHEMA=SCHEMA, ids=ids), [product, *run_ids]).fetchall()


def products_with_history(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        f"select distinct product from {SCHEMA}.slo_status order by product").fetchall()]
