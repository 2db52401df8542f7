"""`duckmesh scale-out build | compare`: the same mesh on Apache Spark (docs/scale-out.md)."""

from __future__ import annotations

import json

import click

from duckmesh.cli.state import CliState, pass_state
from duckmesh.cli.types import SCALE


@click.group("scale-out", help="The same project on Spark through dbt-spark (profile target "
                               "'spark'); docs/scale-out.md.")
def scale_out() -> None:
    pass


@scale_out.command(help="Build the whole mesh on a local Spark session into Parquet tables "
                        "under DUCKMESH_SPARK_DIR (default target/spark).")
@click.option("--scale", type=SCALE, default=0.1, show_default=True, help="data size")
@click.option("--seed", type=int, default=42, show_default=True, help="generator seed")
@click.option("--select", default=None, help="dbt selector (default: everything)")
@click.option("--full-refresh", is_flag=True, help="rebuild incremental models")
@pass_state
def build(state: CliState, scale: float, seed: int, select: str | None,
          full_refresh: bool) -> int:
    from duckmesh.scaleout.spark import build_on_spark

    return build_on_spark(state.mesh(), scale, seed, select, full_refresh)


@scale_out.command(help="For every public product version: rows and a checksum of Spark's "
                        "Parquet output read with DuckDB, against the DuckDB build's table. "
                        "Exit 1 when any product differs.")
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
@pass_state
def compare(state: CliState, as_json: bool) -> int:
    from duckmesh.core.output import format_table
    from duckmesh.scaleout.spark import compare as compare_engines
    from duckmesh.scaleout.spark import data_set_mismatch

    results = compare_engines(state.mesh())
    if as_json:
        print(json.dumps([{**r.__dict__, "equal": r.equal} for r in results], default=str,
                         indent=2))
    else:
        rows = [[r.product, f"{r.duckdb_rows:,}", f"{r.spark_rows:,}",
                 "equal" if r.equal else "DIFFERENT"] for r in results]
        print(format_table(["product", "duckdb rows", "spark rows", "contents"], rows))
        for r in results:
            for side, sample in (("DuckDB", r.only_in_duckdb), ("Spark", r.only_in_spark)):
                for values in sample:
                    print(f"  {r.product}: only in {side}: {values}")
    differing = [r.product for r in results if not r.equal]
    if differing:
        print(f"\n{len(differing)} of {len(results)} products differ: {', '.join(differing)}")
        mismatch = data_set_mismatch(state.mesh())
        if mismatch:
            print(f"note: {mismatch}")
        return 1
    if not as_json:
        print(f"\nall {len(results)} product versions are equal on Spark and DuckDB")
    return 0
