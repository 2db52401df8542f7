"""`duckmesh scale-out build | compare`: the same mesh on Apache Spark (docs/scale-out.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import console


@click.group("scale-out", help="The same project on Spark through dbt-spark (profile target "
                               "'spark'); docs/scale-out.md.")
def scale_out() -> None:
    pass


@scale_out.command(help="Build the whole mesh on a local Spark session into Parquet tables "
                        "under DUCKMESH_SPARK_DIR (default target/spark).")
@params.scale
@params.seed
@params.select
@params.full_refresh
@pass_state
def build(state: CliState, scale: float | None, seed: int, select: str | None,
          full_refresh: bool) -> int:
    from duckmesh.core.fingerprint import resolve_scale
    from duckmesh.scaleout.spark import build_on_spark

    mesh = state.mesh()
    return build_on_spark(mesh, resolve_scale(mesh, scale), seed, select, full_refresh)


@scale_out.command(help="For every public product version: rows and a checksum of Spark's "
                        "Parquet output read with DuckDB, against the DuckDB build's table. "
                        "Exit 1 when any product differs.")
@params.as_json
@pass_state
def compare(state: CliState, as_json: bool) -> int:
    from duckmesh.scaleout.spark import compare as compare_engines
    from duckmesh.scaleout.spark import data_set_mismatch

    results = compare_engines(state.mesh())
    differing = report_comparison(results, "Spark", lambda r: r.spark_rows,
                                  lambda r: r.only_in_spark, as_json)
    if differing:
        mismatch = data_set_mismatch(state.mesh())
        if mismatch:
            console().warn(f"note: {mismatch}", err=False)
        return 1
    return 0


def report_comparison(results: Sequence[Any], engine: str, rows: Callable[[Any], int],
                      only_there: Callable[[Any], list[tuple]], as_json: bool) -> list[str]:
    """The answer of a `compare` against the DuckDB build (Spark, a warehouse): a table
    of each product's rows and verdict and sample rows found on one side only, or JSON;
    returns the products that differ."""
    from duckmesh.core.output import format_table

    voice = console()
    if as_json:
        voice.json([{**r.__dict__, "equal": r.equal} for r in results])
    table = [[r.product, f"{r.duckdb_rows:,}", f"{rows(r):,}",
              "equal" if r.equal else "DIFFERENT"] for r in results]
    voice.out(format_table(["product", "duckdb rows", f"{engine} rows", "contents"], table))
    for r in results:
        for side, sample in (("DuckDB", r.only_in_duckdb), (engine, only_there(r))):
            for values in sample:
                voice.out(f"  {r.product}: only in {side}: {values}")
    differing = [r.product for r in results if not r.equal]
    if differing:
        voice.warn(f"\n{len(differing)} of {len(results)} products differ: "
                   f"{', '.join(differing)}", err=False)
    else:
        voice.out(f"\nall {len(results)} product versions are equal on {engine} and DuckDB")
    return differing
