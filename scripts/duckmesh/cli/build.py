"""`duckmesh build`."""

from __future__ import annotations

import click

from duckmesh.cli.state import CliState, pass_state


@click.command(help="Generate (or reuse) the source data at --scale, install the domains "
                    "(dbt deps), dbt build every domain and the consumer project into the "
                    "DuckDB file (DUCKMESH_DB, default mesh.duckdb), then print the products.")
@click.option("--scale", type=float, default=0.1, show_default=True,
              help="data size; 1 = 100k customers, 1M orders")
@click.option("--seed", type=int, default=42, show_default=True, help="generator seed")
@click.option("--select", default=None, help="dbt selector (default: everything)")
@click.option("--full-refresh", is_flag=True, help="rebuild incremental models")
@click.option("--changed-only", is_flag=True,
              help="build only what changed since the last successful build "
                   "(state:modified+); everything when the source data changed")
@pass_state
def build(state: CliState, scale: float, seed: int, select: str | None, full_refresh: bool,
          changed_only: bool) -> int:
    from duckmesh.build.pipeline import BuildOptions
    from duckmesh.build.pipeline import build as run_build

    return run_build(state.mesh(), BuildOptions(scale, seed, select, full_refresh, changed_only))
