"""`duckmesh warehouse build | compare`: the same mesh on Snowflake or BigQuery
(docs/warehouses.md)."""

from __future__ import annotations

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import console

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
    from duckmesh.core.output import format_table
    from duckmesh.scaleout.warehouse import compare as compare_engines

    voice = console()
    results = compare_engines(state.mesh(), target)
    if as_json:
        voice.json([{**r.__dict__, "equal": r.equal} for r in results])
    else:
        rows = [[r.product, f"{r.duckdb_rows:,}", f"{r.warehouse_rows:,}",
                 "equal" if r.equal else "DIFFERENT"] for r in results]
        voice.out(format_table(["product", "duckdb rows", f"{target} rows", "contents"], rows))
        for r in results:
            for side, sample in (("DuckDB", r.only_in_duckdb), (target, r.only_in_warehouse)):
                for values in sample:
                    voice.out(f"  {r.product}: only in {side}: {values}")
    differing = [r.product for r in results if not r.equal]
    if differing:
        voice.out(f"\n{len(differing)} of {len(results)} products differ: "
                  f"{', '.join(differing)}", err=as_json)
        return 1
    if not as_json:
        voice.out(f"\nall {len(results)} product versions are equal on {target} and DuckDB")
    return 0
