"""`duckmesh warehouse build | compare`: the same mesh on Snowflake or BigQuery
(docs/warehouses.md)."""

from __future__ import annotations

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state

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
@params.scale
@params.seed
@params.select
@params.full_refresh
@pass_state
def build(state: CliState, target: str, scale: float | None, seed: int, select: str | None,
          full_refresh: bool) -> int:
    from duckmesh.core.fingerprint import resolve_scale
    from duckmesh.scaleout.warehouse import build_on_warehouse

    mesh = state.mesh()
    return build_on_warehouse(mesh, target, resolve_scale(mesh, scale), seed, select,
                              full_refresh)


@warehouse.command(help="For every public product version: the warehouse's rows against the "
                        "DuckDB build's, every value normalised alike. Exit 1 when any differs.")
@TARGET
@params.as_json
@pass_state
def compare(state: CliState, target: str, as_json: bool) -> int:
    from duckmesh.cli.scaleout import report_comparison
    from duckmesh.scaleout.warehouse import compare as compare_engines

    results = compare_engines(state.mesh(), target)
    return 1 if report_comparison(results, target, lambda r: r.warehouse_rows,
                                  lambda r: r.only_in_warehouse, as_json) else 0
