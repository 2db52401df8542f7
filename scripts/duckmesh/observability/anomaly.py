"""Anomalies in a product's metrics against its own recent history.

- volume: the row count's robust z-score (0.6745 x deviation from the median / MAD,
  Iglewicz and Hoaglin) above ``volume_z`` and a change from the median above
  ``volume_min_change``; a MAD of 0 (identical history) makes any change count as
  extreme, so only the relative change decides.
- freshness lag: the newest record's age more than ``freshness_lag_hours`` above the
  median lag (and a robust z-score above ``volume_z``).
- null rate: a column's null share more than ``null_rate_jump`` above its median.

Nothing is checked until ``min_history`` earlier runs on the same data set measured the
product version, so the first runs of a new product, or on another scale, raise no
false alarm."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

import duckdb

from duckmesh.observability.config import AnomalyConfig
from duckmesh.observability.slo import ProductState
from duckmesh.observability.store import SCHEMA


@dataclass(frozen=True)
class Anomaly:
    product: str
    version: int | None
    check: str  # volume, freshness_lag, null_rate
    column: str | None
    observed: float
    baseline: float  # median of the history
    message: str

    @property
    def alert_key(self) -> str:
        return f"anomaly:{self.product}:{self.check}" + (f":{self.column}" if self.column else "")


def robust_z(value: float, history: list[float]) -> float:
    """0.6745 * (value - median) / MAD; +-inf when MAD is 0 and the value differs."""
    centre = median(history)
    mad = median(abs(x - centre) for x in history)
    deviation = value - centre
    if mad == 0:
        return 0.0 if deviation == 0 else math.copysign(math.inf, deviation)
    return 0.6745 * deviation / mad


def detect(con: duckdb.DuckDBPyConnection, state: ProductState, run_id: str,
           config: AnomalyConfig) -> tuple[list[Anomaly], set[str]]:
    """Anomalies of one product version in run ``run_id`` and the alert keys checked."""
    product = state.product
    version = product.version
    label = f"{product.key} v{version.version}" if version.version is not None else product.key
    found: list[Anomaly] = []
    checked: set[str] = set()
    if not state.measurement.exists:
        return found, checked
    past = con.execute(f"""
        select m.run_id, m.row_count, m.freshness_lag_hours
        from {SCHEMA}.product_metrics as m
        join {SCHEMA}.runs as r on r.run_id = m.run_id
        join {SCHEMA}.runs as this_run on this_run.run_id = ?
        where m.product = ? and m.version is not distinct from ? and m.row_count is not null
          and r.started_at < this_run.started_at
          -- the same source data only: another scale or seed starts a new baseline
          and (this_run.data_set is null or r.data_set is not distinct from this_run.data_set)
        order by r.started_at desc
        limit ?
    """, [run_id, product.key, version.version, config.window_runs]).fetchall()
    if len(past) < config.min_history:
        return found, checked

    def add(check: str, column: str | None, observed: float, baseline: float,
            message: str) -> None:
        found.append(Anomaly(product.key, version.version, check, column, observed, baseline,
                             f"{label}: {message}"))

    n = len(past)
    rows = float(state.measurement.row_count or 0)
    counts = [float(r[1]) for r in past]
    centre = median(counts)
    checked.add(f"anomaly:{product.key}:volume")
    change = abs(rows - centre) / centre if centre else (math.inf if rows else 0.0)
    if abs(robust_z(rows, counts)) > config.volume_z and change > config.volume_min_change:
        add("volume", None, rows, centre,
            f"volume anomaly: {rows:,.0f} rows, {(rows - centre) / centre:+.1%} from the "
            f"median {centre:,.0f} of the last {n} runs" if centre else
            f"volume anomaly: {rows:,.0f} rows where the last {n} runs had none")

    lags = [float(r[2]) for r in past if r[2] is not None]
    lag = state.freshness_lag_hours
    if lag is not None and len(lags) >= config.min_history:
        checked.add(f"anomaly:{product.key}:freshness_lag")
        centre = median(lags)
        if lag - centre > config.freshness_lag_hours and robust_z(lag, lags) > config.volume_z:
            add("freshness_lag", None, lag, centre,
                f"freshness-lag anomaly: newest record {lag:.1f} h old, {lag - centre:.1f} h "
                f"above the median lag {centre:.1f} h of the last {len(lags)} runs")

    total = state.measurement.row_count or 0
    if total:
        past_ids = [r[0] for r in past]
        marks = ", ".join("?" for _ in past_ids)
        rates: dict[str, list[float]] = {}
        for column, rate in con.execute(f"""
                select column_name, null_rate from {SCHEMA}.column_metrics
                where product = ? and version is not distinct from ? and run_id in ({marks})
                  and null_rate is not null
                """, [product.key, version.version, *past_ids]).fetchall():
            rates.setdefault(column, []).append(rate)
        for column, nulls in state.measurement.null_counts.items():
            history = rates.get(column, [])
            if len(history) < config.min_history:
                continue
            checked.add(f"anomaly:{product.key}:null_rate:{column}")
            rate, centre = nulls / total, median(history)
            if rate - centre > config.null_rate_jump:
                add("null_rate", column, rate, centre,
                    f"null-rate jump: {column} is {rate:.1%} null, up from a median of "
                    f"{centre:.1%} over the last {len(history)} runs")
    return found, checked
