"""`duckmesh warehouse build | compare`: the same mesh on Snowflake or BigQuery
(docs/warehouses.md)."""

from __future__ import annotations

import json

import click

from duckmesh.cli.state import CliState, pass_state
from duckmesh.cli.types import SCALE

TARGET = click.option("--target", type=click.Choice(["snowflake", "bigquery"]), required=True,
                      help="the profile target (profiles/profiles.yml)")


@click.group("warehouse", help="The same project on Snowflake or BigQuery through dbt-snowflake "
                               "or dbt-bigquery in their own environments (make warehouses); "
                               "docs/warehouses.md.")
def warehouse() -> None:
    pass


@warehouse.command(help="Load the source data into the warehouse (Snowflake: stage, PUT, COPY "
                        "INTO; BigQuery: load jobs), then dbt build --target TARGET.")
@TARGET
@click.option("--scale", type=SCALE, default=0.1, show_default=True, help="data size")
@click.option("--seed", type=int, default=42, show_default=True, help="generator seed")
@click.option("--select", default=None, help="dbt selector (default: everything)")
@click.option("--full-refresh", is_flag=True, help="rebuild incremental models")
@pass_state
def build(state: CliState, target: str, scale: float, seed: int, select: str | None,
          full_refresh: bool) -> int:
    from duckmesh.scaleout.warehouse import build_on_warehouse

    return build_on_warehouse(state.mesh(), target, scale, seed, select, full_refresh)


@warehouse.command(help="For every public product version: the warehouse's rows against the "
                        "DuckDB build's, every value normalised alike. Exit 1 when any differs.")
@TARGET
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
@pass_state
def compare(state: CliState, target: str, as_json: bool) -> int:
    from duckmesh.core.output import format_table
    from duckmesh.scaleout.warehouse import compare as compare_engines

    results = compare_engines(state.mesh(), target)
    if as_json:
        print(json.dumps([{**r.__dict__, "equal": r.equal} for r in results], default=str,
                         indent=2))
    else:
        rows = [[r.product, f"{r.duckdb_rows:,}", f"{r.warehouse_rows:,}",
                 "equal" if r.equal else "DIFFERENT"] for r in results]
        print(format_table(["product", "duckdb rows", f"{target} rows", "contents"], rows))
        for r in results:
            for side, sample in (("DuckDB", r.only_in_duckdb), (target, r.only_in_warehouse)):
                for values in sample:
                    print(f"  {r.product}: only in {side}: {values}")
    differing = [r.product for r in results if not r.equal]
    if differing:
        print(f"\n{len(differing)} of {len(results)} products differ: {', '.join(differing)}")
        return 1
    if not as_json:
        print(f"\nall {len(results)} product versions are equal on {target} and DuckDB")
    return 0
