"""`duckmesh observe | status | history | alerts | ledger`: parse arguments, call the
observability package, print."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state
from duckmesh.cli.types import COUNT, DAYS
from duckmesh.core.output import console, format_table
from duckmesh.core.project import Mesh, MeshError
from duckmesh.observability import SEVERITIES


def _progress(message: str) -> None:
    console().step(f"  {message}", err=True)


@click.command(help="Record target/run_results.json and manifest.json as a run in the "
                    "mesh_observability schema, measure every product, evaluate SLOs and "
                    "anomalies, and deliver new alerts. `duckmesh build` does this itself.")
@click.option("--as-of", default=None,
              help="reference time for data freshness: ISO timestamp or 'now' "
                   "(default: vars.duckmesh_observability.as_of, DUCKMESH_AS_OF)")
@pass_state
def observe(state: CliState, as_of: str | None) -> int:
    from duckmesh.core.artifacts import Artifacts
    from duckmesh.observability.config import load_config
    from duckmesh.observability.pipeline import observe as record_run

    voice = console()
    mesh = state.mesh()
    config = load_config(mesh, as_of=as_of)
    voice.step("observability: recording target/run_results.json", err=True)
    artifacts = Artifacts.load(mesh)
    observation = record_run(mesh.root, mesh.db_path, artifacts.manifest,
                             artifacts.run_results, config, progress=_progress)
    for problem in observation.problems:
        voice.warn(f"observability: warning: {problem}")
    voice.out(observation.summary())
    return 0


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _number(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


@click.command(help="The state of every product after the newest recorded run.")
@click.option("--html", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="also write an HTML report with charts per product to PATH")
@pass_state
def status(state: CliState, html: Path | None) -> int:
    from duckmesh.observability.report import write_report
    from duckmesh.observability.store import connect
    from duckmesh.observability.views import product_status

    voice = console()
    mesh = state.mesh()
    with connect(mesh.db_path, create=False) as con:
        statuses = product_status(con)
        rows = [[s.product, s.owner.split(" <")[0],
                 f"v{s.version}" if s.version is not None else "-",
                 _time(s.built_at), "missing" if s.rows is None else f"{s.rows:,}",
                 s.slo_state, _number(s.availability_pct, 1, "%"),
                 f"{s.open_errors} error, {s.open_warnings} warning"
                 if s.open_errors or s.open_warnings else "0"] for s in statuses]
        voice.out(format_table(["product", "owner", "version", "last build (UTC)", "rows",
                                "SLO", "availability", "open alerts"], rows))
        if html:
            voice.out(f"report: {write_report(con, html.resolve())}")
    return 0


@click.command(help="Per run: build status, rows, build time, freshness lag, SLO breaches.")
@params.product
@click.option("--limit", type=COUNT, default=20, show_default=True, help="runs to show")
@pass_state
def history(state: CliState, product: str, limit: int) -> int:
    from duckmesh.observability.history import run_label
    from duckmesh.observability.store import connect
    from duckmesh.observability.views import product_history

    voice = console()
    mesh = state.mesh()
    with connect(mesh.db_path, create=False) as con:
        runs = product_history(con, product, limit)
    rows = [[_time(h.started_at), run_label(h.run_id), h.run_status,
             f"v{h.version}" if h.version is not None else "-", h.build_status,
             "missing" if h.rows is None else f"{h.rows:,}", _number(h.build_seconds, 2),
             _number(h.freshness_lag_hours), h.breaches or "none", str(h.alerts_raised)]
            for h in runs]
    voice.out(format_table(["run started (UTC)", "run", "status", "version", "build", "rows",
                            "build s", "lag h", "SLO breaches", "new alerts"], rows))
    return 0


@click.command(help="List alerts (open ones by default). The exit code is 1 when an open "
                    "alert of --fail-on severity or worse exists, so CI can gate on it.")
@click.option("--all", "include_resolved", is_flag=True, help="include resolved alerts")
@params.as_json
@click.option("--product", default=None, metavar="DOMAIN.PRODUCT")
@click.option("--fail-on", type=click.Choice([*SEVERITIES, "never"]), default="error",
              show_default=True, help="severity that makes the exit code 1")
@pass_state
def alerts(state: CliState, include_resolved: bool, as_json: bool, product: str | None,
           fail_on: str) -> int:
    from duckmesh.observability.alerts import query_alerts
    from duckmesh.observability.store import connect

    voice = console()
    mesh = state.mesh()
    if product is not None:
        _known_product(mesh, product)
    with connect(mesh.db_path, create=False) as con:
        found = query_alerts(con, include_resolved=include_resolved, product=product)
    if as_json:
        voice.json([alert.to_json() for alert in found], lines=True)
    elif found:
        voice.out(format_table(
            ["id", "status", "severity", "product", "owner", "raised (UTC)", "message"],
            [[str(a.alert_id), a.status, a.severity, a.product, a.owner, _time(a.raised_at),
              a.message] for a in found]))
    else:
        voice.out("no open alerts" if not include_resolved else "no alerts")
    if fail_on == "never":
        return 0
    gate = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    failing = [a for a in found if a.status == "open" and a.severity in gate]
    if failing:
        voice.error(f"duckmesh alerts: {len(failing)} open alert(s) of severity "
                    f"{' or '.join(gate)}")
        return 1
    return 0


@click.command(help="Availability %, freshness-SLO hit rate and p50/p95 build time per "
                    "product over the last --runs runs (default: the configured ledger_runs) "
                    "or the runs of the --days up to the newest run; the newest run counts.")
@click.option("--runs", "runs_opt", type=COUNT, default=None)
@click.option("--days", type=DAYS, default=None)
@pass_state
def ledger(state: CliState, runs_opt: int | None, days: float | None) -> int:
    from duckmesh.observability.config import load_config
    from duckmesh.observability.store import connect
    from duckmesh.observability.views import all_ledgers

    voice = console()
    if runs_opt is not None and days is not None:
        raise click.UsageError("--runs and --days exclude each other")
    mesh = state.mesh()
    runs = runs_opt if runs_opt is not None or days is not None else \
        load_config(mesh).ledger_runs
    if runs is not None and runs < 1 or days is not None and days <= 0:
        raise MeshError("--runs and --days take a positive number")
    with connect(mesh.db_path, create=False) as con:
        ledgers = all_ledgers(con, runs, days)

    def target(value: float | None, met: bool | None) -> str:
        return "-" if value is None else f"{value:g}% ({'met' if met else 'missed'})"

    window = (f"the runs of the {days:g} days up to the newest run" if days is not None
              else f"the last {runs} runs")
    voice.out(f"SLO ledger over {window}, the newest run included")
    voice.out(format_table(
        ["product", "runs", "availability", "target", "freshness hit", "build p50 s",
         "build p95 s"],
        [[r.product, str(r.runs), _number(r.availability_pct, 1, "%"),
          target(r.availability_target_pct, r.availability_met),
          _number(r.freshness_hit_pct, 1, "%") if r.freshness_checks else "-",
          _number(r.build_p50_seconds, 2), _number(r.build_p95_seconds, 2)]
         for r in ledgers]))
    return 0


def _known_product(mesh: Mesh, product: str) -> None:
    """A typo in --product must not pass a CI gate as "no open alerts"."""
    from duckmesh.core.artifacts import load_manifest
    from duckmesh.core.products import public_products

    known = sorted({p.key for p in public_products(load_manifest(mesh))})
    if product not in known:
        raise MeshError(f"unknown product {product!r}: use DOMAIN.PRODUCT, one of "
                        f"{', '.join(known)}")
