"""`duckmesh observe | status | history | alerts | ledger`: parse arguments, call the
observability modules, print."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import dbt
from ..products import format_table
from ..project import MeshError, find_mesh
from .alerts import SEVERITIES, query_alerts
from .config import load_config
from .pipeline import observe
from .report import write_report
from .store import connect
from .views import all_ledgers, product_history, product_status


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "observe", help="record the last dbt run in the observability history",
        description="Record target/run_results.json and manifest.json as a run in the "
                    "mesh_observability schema, measure every product, evaluate SLOs and "
                    "anomalies, and deliver new alerts. `duckmesh build` does this itself.")
    parser.add_argument("--as-of", default=None,
                        help="reference time for data freshness: ISO timestamp or 'now' "
                             "(default: vars.duckmesh_observability.as_of, DUCKMESH_AS_OF)")
    parser.set_defaults(func=run_observe)

    parser = subparsers.add_parser(
        "status", help="one line per data product: owner, version, rows, SLO state, alerts",
        description="The state of every product after the newest recorded run.")
    parser.add_argument("--html", type=Path, default=None, metavar="PATH",
                        help="also write an HTML report with charts per product to PATH")
    parser.set_defaults(func=run_status)

    parser = subparsers.add_parser(
        "history", help="the recorded runs of one product (DOMAIN.PRODUCT)",
        description="Per run: build status, rows, build time, freshness lag, SLO breaches.")
    parser.add_argument("product", metavar="DOMAIN.PRODUCT", help="e.g. sales.orders")
    parser.add_argument("--limit", type=int, default=20, help="runs to show (default 20)")
    parser.set_defaults(func=run_history)

    parser = subparsers.add_parser(
        "alerts", help="open alerts; exits 1 when an error alert is open (CI gate)",
        description="List alerts (open ones by default). The exit code is 1 when an open "
                    "alert of --fail-on severity or worse exists, so CI can gate on it.")
    parser.add_argument("--all", action="store_true", help="include resolved alerts")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--product", default=None, metavar="DOMAIN.PRODUCT")
    parser.add_argument("--fail-on", choices=[*SEVERITIES, "never"], default="error",
                        help="severity that makes the exit code 1 (default error)")
    parser.set_defaults(func=run_alerts)

    parser = subparsers.add_parser(
        "ledger", help="SLO attainment per product over the last N runs or days",
        description="Availability %%, freshness-SLO hit rate and p50/p95 build time per "
                    "product over the last --runs runs (default: the configured "
                    "ledger_runs) or the --days before the newest run.")
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--runs", type=int, default=None)
    window.add_argument("--days", type=float, default=None)
    parser.set_defaults(func=run_ledger)


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def run_observe(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    config = load_config(mesh, as_of=args.as_of)
    print("observability: recording target/run_results.json", file=sys.stderr, flush=True)
    observation = observe(mesh.root, mesh.db_path, dbt.load_manifest(mesh),
                          dbt.load_run_results(mesh), config, progress=_progress)
    for problem in observation.problems:
        print(f"observability: warning: {problem}", file=sys.stderr)
    print(observation.summary())
    return 0


def _time(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _number(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def run_status(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    with connect(mesh.db_path, create=False) as con:
        statuses = product_status(con)
        rows = [[s.product, s.owner.split(" <")[0],
                 f"v{s.version}" if s.version is not None else "-",
                 _time(s.built_at), "missing" if s.rows is None else f"{s.rows:,}",
                 s.slo_state, _number(s.availability_pct, 1, "%"),
                 f"{s.open_errors} error, {s.open_warnings} warning"
                 if s.open_errors or s.open_warnings else "0"] for s in statuses]
        print(format_table(["product", "owner", "version", "last build (UTC)", "rows",
                            "SLO", "availability", "open alerts"], rows))
        if args.html:
            print(f"report: {write_report(con, args.html.resolve())}")
    return 0


def run_history(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    with connect(mesh.db_path, create=False) as con:
        history = product_history(con, args.product, args.limit)
    rows = [[_time(h.started_at), h.run_id[:8], h.run_status,
             f"v{h.version}" if h.version is not None else "-", h.build_status,
             "missing" if h.rows is None else f"{h.rows:,}", _number(h.build_seconds, 2),
             _number(h.freshness_lag_hours), h.breaches or "none", str(h.alerts_raised)]
            for h in history]
    print(format_table(["run started (UTC)", "run", "status", "version", "build", "rows",
                        "build s", "lag h", "SLO breaches", "new alerts"], rows))
    return 0


def run_alerts(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    with connect(mesh.db_path, create=False) as con:
        alerts = query_alerts(con, include_resolved=args.all, product=args.product)
    if args.json:
        for alert in alerts:
            print(alert.to_json())
    elif alerts:
        print(format_table(
            ["id", "status", "severity", "product", "owner", "raised (UTC)", "message"],
            [[str(a.alert_id), a.status, a.severity, a.product, a.owner, _time(a.raised_at),
              a.message] for a in alerts]))
    else:
        print("no open alerts" if not args.all else "no alerts")
    if args.fail_on == "never":
        return 0
    gate = SEVERITIES[: SEVERITIES.index(args.fail_on) + 1]
    failing = [a for a in alerts if a.status == "open" and a.severity in gate]
    if failing:
        print(f"duckmesh alerts: {len(failing)} open alert(s) of severity "
              f"{' or '.join(gate)}", file=sys.stderr)
        return 1
    return 0


def run_ledger(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    runs = args.runs if args.runs is not None or args.days is not None else \
        load_config(mesh).ledger_runs
    if runs is not None and runs < 1 or args.days is not None and args.days <= 0:
        raise MeshError("--runs and --days take a positive number")
    with connect(mesh.db_path, create=False) as con:
        ledgers = all_ledgers(con, runs, args.days)

    def target(value: float | None, met: bool | None) -> str:
        return "-" if value is None else f"{value:g}% ({'met' if met else 'missed'})"

    window = f"last {args.days:g} days" if args.days is not None else f"last {runs} runs"
    print(f"SLO ledger, {window} before the newest run")
    print(format_table(
        ["product", "runs", "availability", "target", "freshness hit", "build p50 s",
         "build p95 s"],
        [[r.product, str(r.runs), _number(r.availability_pct, 1, "%"),
          target(r.availability_target_pct, r.availability_met),
          _number(r.freshness_hit_pct, 1, "%") if r.freshness_checks else "-",
          _number(r.build_p50_seconds, 2), _number(r.build_p95_seconds, 2)]
         for r in ledgers]))
    return 0
