"""One run through observability: history, metrics, SLOs, anomalies, ledger, alerts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from duckmesh.core.context import BuildContext
from duckmesh.core.output import console
from duckmesh.core.project import MeshError, relative
from duckmesh.observability import alerts as alerting
from duckmesh.observability.anomaly import Anomaly, detect
from duckmesh.observability.config import ObservabilityConfig, load_config
from duckmesh.observability.history import (
    FAILED_STATUSES,
    Measurement,
    Product,
    RunRecord,
    failed_run,
    measure_products,
    products_from_manifest,
    run_from_artifacts,
    run_label,
    unique_keys,
)
from duckmesh.observability.slo import ProductState, SloResult, evaluate, ledger
from duckmesh.observability.store import SCHEMA, connect, ensure_schema, insert_rows


@dataclass
class Observation:
    run: RunRecord
    as_of: datetime
    states: list[ProductState] = field(default_factory=list)
    slo_results: list[SloResult] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    raised: list[alerting.Alert] = field(default_factory=list)
    resolved: list[alerting.Alert] = field(default_factory=list)
    open_alerts: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        met = sum(1 for r in self.slo_results if r.met)
        checks = (f"SLOs {met}/{len(self.slo_results)} met; {len(self.anomalies)} anomalies"
                  if built_something(self.run) else
                  "nothing built, so no SLO or anomaly checked")
        return (f"observability: run {run_label(self.run.run_id)} ({self.run.status}) "
                f"recorded: {len(self.run.nodes)} nodes, {len(self.states)} product versions; "
                f"{checks}; alerts {len(self.raised)} new, {len(self.resolved)} resolved, "
                f"{self.open_alerts} open")


BUILT = ("model", "seed", "snapshot")
RUN_ALERT = "run:build"  # the one alert of a build that built nothing


def built_something(run: RunRecord) -> bool:
    """Did any model, seed or snapshot run (successfully or not) in this run?"""
    return any(n.resource_type in BUILT and n.status != "skipped" for n in run.nodes)


def is_latest(product: Product) -> bool:
    return product.version.is_latest or product.version.version is None


def observe(root: Path, db_path: Path, manifest: dict, run_results: dict | None,
            config: ObservabilityConfig, *, build_failed: bool = False,
            build_seconds: float = 0.0, deliver: bool = True,
            progress: Callable[[str], None] | None = None,
            database: duckdb.DuckDBPyConnection | None = None,
            data_set: str | None = None) -> Observation:
    """Record one run in ``db_path`` (through ``database`` when given: an open
    connection to it, left open) and raise its alerts. ``run_results`` that are
    already recorded (a build that failed before dbt wrote any) count as a failed run
    without nodes when ``build_failed``; otherwise recording them twice is an error.
    ``data_set`` names the source data the run read: anomalies compare a run only with
    earlier runs on the same data set (a switch of scale starts a new baseline)."""
    products = products_from_manifest(manifest)
    if database is not None:
        ensure_schema(database)
    with nullcontext(database) if database is not None else connect(db_path) as con:
        run_id = (run_results or {}).get("metadata", {}).get("invocation_id")
        recorded = run_id is not None and con.execute(
            f"select count(*) from {SCHEMA}.runs where run_id = ?", [run_id]).fetchall()[0][0]
        if run_results and not recorded:
            run = run_from_artifacts(run_results, manifest, products, root, build_failed)
        elif build_failed:
            run = failed_run(datetime.now(UTC), build_seconds, root)
        elif recorded:
            raise MeshError(f"run {run_id} (target/run_results.json) is already recorded: "
                            "run `duckmesh build` or a dbt build first")
        else:
            raise MeshError("no target/run_results.json: run `duckmesh build` first")
        as_of = config.as_of_time(run.ended_at)
        observation = Observation(run=run, as_of=as_of)
        con.begin()
        try:
            _record(con, observation, products, config, progress, data_set,
                    unique_keys(manifest, run_results) if run.nodes else set())
            con.commit()
        except BaseException:
            con.rollback()
            raise
        observation.open_alerts = len(alerting.query_alerts(con))
    if deliver:
        observation.problems = alerting.deliver(
            observation.raised, config.alert_path(root), config.webhook_url,
            config.webhook_timeout_seconds)
    return observation


def _record(con: duckdb.DuckDBPyConnection, observation: Observation,
            products: list[Product], config: ObservabilityConfig,
            progress: Callable[[str], None] | None, data_set: str | None = None,
            unique: set[tuple[str, str]] | None = None) -> None:
    run, as_of = observation.run, observation.as_of
    now = datetime.now(UTC)
    insert_rows(con, "runs", [{
        "run_id": run.run_id, "started_at": run.started_at, "ended_at": run.ended_at,
        "status": run.status, "dbt_version": run.dbt_version, "target": run.target,
        "git_commit": run.git_commit, "command": run.command, "as_of": as_of,
        "elapsed_seconds": run.elapsed_seconds, "node_count": len(run.nodes),
        "recorded_at": now, "data_set": data_set}])
    insert_rows(con, "node_runs", [{"run_id": run.run_id, **vars(n)} for n in run.nodes])
    insert_rows(con, "test_results", [{"run_id": run.run_id, **vars(t)} for t in run.tests])

    measured = measure_products(con, products, progress, unique)
    states = [_state(con, run, p, measured[p.version.unique_id], as_of) for p in products]
    observation.states = states
    insert_rows(con, "product_metrics", [_metrics_row(run, s, now) for s in states])
    insert_rows(con, "column_metrics", [
        {"run_id": run.run_id, "product": s.product.key, "version": s.product.version.version,
         "column_name": column, "null_count": nulls,
         "null_rate": nulls / s.measurement.row_count if s.measurement.row_count else None}
        for s in states for column, nulls in s.measurement.null_counts.items()])

    findings: list[alerting.Finding] = []
    checked: set[str] = set()
    owners = {p.key: p.owner for p in products}
    if not built_something(run):
        # nothing was built: every product is as the last run left it, so nothing is
        # checked (no alert resolves, none of the last run's breaches is raised again);
        # the failure itself is the one alert
        if run.status != "success":
            findings.append(alerting.Finding(
                RUN_ALERT, "run", "build", "(mesh)", None, "", "error",
                f"build {run_label(run.run_id)} built nothing: it stopped before any model "
                "ran (a check before dbt, governance, a parse or a compilation error); every "
                "product keeps its last build: see the build's output or logs/dbt.log"))
        observation.raised, observation.resolved = alerting.reconcile(
            con, run.run_id, run.ended_at, findings, set())
        return
    checked.add(RUN_ALERT)
    for state in states:
        if not is_latest(state.product):
            continue
        results = evaluate(state, run.ended_at, as_of)
        if not results and not state.measurement.exists:
            # not yet available (never built): an availability alert raised about it
            # (by an older DuckMesh) no longer applies
            checked.add(f"slo:{state.product.key}:availability")
        observation.slo_results += results
        for result in results:
            checked.add(result.alert_key)
            if not result.met:
                findings.append(alerting.Finding(
                    result.alert_key, "slo", result.slo, result.product, result.version,
                    state.product.owner, result.severity, result.message))
        anomalies, anomaly_keys = detect(con, state, run.run_id, config.anomaly)
        observation.anomalies += anomalies
        checked |= anomaly_keys
        findings += [alerting.Finding(a.alert_key, "anomaly", a.check, a.product, a.version,
                                      state.product.owner, "warning", a.message)
                     for a in anomalies]
    insert_rows(con, "slo_status", [
        {"run_id": run.run_id, "product": r.product, "version": r.version, "slo": r.slo,
         "column_name": r.column, "target": r.target, "observed": r.observed, "met": r.met,
         "message": r.message} for r in observation.slo_results])

    for test in run.tests:
        key = f"test:{test.product}:{test.test_id}"
        if test.status != "pass" and test.status not in FAILED_STATUSES | {"warn"}:
            continue  # skipped: says nothing either way
        checked.add(key)
        if test.status in FAILED_STATUSES or test.status == "warn":
            findings.append(alerting.Finding(
                key, "test", test.test_name, test.product, test.version,
                owners.get(test.product, ""),
                "warning" if test.status == "warn" else "error", _test_message(test)))

    ledger_rows = []
    for product in sorted({s.product.key for s in states if is_latest(s.product)}):
        row = ledger(con, product, runs=config.ledger_runs, upto_run=run.run_id)
        ledger_rows.append({
            "run_id": run.run_id, "product": product, "window_runs": config.ledger_runs,
            "runs": row.runs, "available_runs": row.available_runs,
            "availability_pct": row.availability_pct,
            "availability_target_pct": row.availability_target_pct,
            "availability_met": row.availability_met, "freshness_checks": row.freshness_checks,
            "freshness_met": row.freshness_met, "freshness_hit_pct": row.freshness_hit_pct,
            "build_p50_seconds": row.build_p50_seconds,
            "build_p95_seconds": row.build_p95_seconds,
            "build_budget_seconds": row.build_budget_seconds})
    insert_rows(con, "slo_ledger", ledger_rows)

    observation.raised, observation.resolved = alerting.reconcile(
        con, run.run_id, run.ended_at, findings, checked)


def _test_message(test) -> str:  # noqa: ANN001 - history.TestResult
    label = f"{test.product} v{test.version}" if test.version is not None else test.product
    if test.status == "error":
        return f"{label}: test {test.test_name} errored: {test.message or 'no message'}"
    rows = f"{test.failures:,} failing rows" if test.failures is not None else "failed"
    verb = "warned" if test.status == "warn" else "failed"
    return f"{label}: test {test.test_name} {verb} ({rows})"


def _state(con: duckdb.DuckDBPyConnection, run: RunRecord, product: Product,
           measurement: Measurement, as_of: datetime) -> ProductState:
    node = run.node(product.version.unique_id)
    status = node.status if node else "not_run"
    built_at = node.ended_at if node and status == "success" else None
    if built_at is None:
        built_at = con.execute(
            f"select max(built_at) from {SCHEMA}.product_metrics "
            f"where product = ? and version is not distinct from ?",
            [product.key, product.version.version]).fetchall()[0][0]
    lag = None
    if measurement.freshness_max is not None:
        lag = (as_of - measurement.freshness_max).total_seconds() / 3600
    return ProductState(
        product=product, measurement=measurement, build_status=status,
        build_seconds=node.execution_seconds if node else None, built_at=built_at,
        available=measurement.exists and status not in ("error", "skipped"),
        freshness_lag_hours=lag)


def _metrics_row(run: RunRecord, state: ProductState, now: datetime) -> dict:
    product, m = state.product, state.measurement
    return {
        "run_id": run.run_id, "product": product.key, "version": product.version.version,
        "is_latest": is_latest(product), "relation": product.version.relation,
        "owner": product.owner, "build_status": state.build_status,
        "build_seconds": state.build_seconds, "built_at": state.built_at,
        "available": state.available, "row_count": m.row_count,
        "key_columns": ",".join(product.key_columns) or None,
        "key_distinct_count": m.key_distinct_count,
        "freshness_column": product.slo.get("freshness_column"),
        "freshness_min": m.freshness_min, "freshness_max": m.freshness_max,
        "freshness_lag_hours": state.freshness_lag_hours, "measured_at": now}


def after_build(context: BuildContext) -> None:
    """AFTER_BUILD step: record the build that just ran, even a failed one."""
    mesh = context.mesh
    if not mesh.manifest_path.exists():
        console().warn("observability: no target/manifest.json (dbt failed before parsing); "
                       "run not recorded", err=False)
        return
    config = load_config(mesh)
    try:
        observation = observe(
            mesh.root, mesh.db_path, context.artifacts.manifest, context.artifacts.run_results,
            config, build_failed=not context.success, build_seconds=context.build_seconds,
            database=context.database(),
            data_set=f"{relative(context.data_dir, mesh.root)} (seed {context.seed})")
    except duckdb.Error as error:
        raise MeshError(
            f"could not record the run in {mesh.db_path}: {error} (close other programs "
            "that hold the file, then record it with `duckmesh observe`)") from error
    except (ValueError, TypeError, ArithmeticError) as error:
        raise MeshError(f"could not record the run in {mesh.db_path}: {error!r} on a value "
                        "of the build (a bug: please report it with this message)") from error
    for problem in observation.problems:
        console().warn(f"observability: warning: {problem}")
    console().step(observation.summary())
