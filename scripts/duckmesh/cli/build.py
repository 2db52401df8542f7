"""`duckmesh build`."""

from __future__ import annotations

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state


@click.command(help="Generate (or reuse) the source data at --scale, install the domains "
                    "(dbt deps), dbt build every domain and the consumer project into the "
                    "DuckDB file (DUCKMESH_DB, default mesh.duckdb), then print the products.")
@params.scale
@params.seed
@params.select
@params.full_refresh
@click.option("--changed-only", is_flag=True,
              help="build only what changed since the last successful build "
                   "(state:modified+); everything when the source data changed")
@click.option("--domain", default=None,
              help="build one domain's own nodes only, reading upstream domains' products "
                   "from the last publish (docs/domains.md)")
@pass_state
def build(state: CliState, scale: float | None, seed: int, select: str | None, full_refresh: bool,
          changed_only: bool, domain: str | None) -> int:
    from duckmesh.build.pipeline import BuildOptions, build_domain
    from duckmesh.build.pipeline import build as run_build
    from duckmesh.core.fingerprint import resolve_scale

    mesh = state.mesh()
    size = resolve_scale(mesh, scale)
    if domain:
        return build_domain(mesh, domain, BuildOptions(size, seed, full_refresh=full_refresh))
    return run_build(mesh, BuildOptions(size, seed, select, full_refresh, changed_only))


@click.command(help="One domain's CI: build, test and govern the domain on its own (upstream "
                    "domains' products are read from the last publish, never rebuilt), "
                    "check its products against the published manifest (SemVer), then "
                    "publish only its products into a new atomic snapshot; every other "
                    "product is carried over unchanged.")
@click.option("--domain", required=True,
              help="the domain (a folder under domains/, or the root's domain)")
@params.scale
@params.seed
@params.full_refresh
@click.option("--no-publish", is_flag=True, help="stop after the checks")
@pass_state
def ci(state: CliState, domain: str, scale: float | None, seed: int, full_refresh: bool,
       no_publish: bool) -> int:
    from duckmesh.build.pipeline import BuildOptions, ci_domain
    from duckmesh.core.fingerprint import resolve_scale

    mesh = state.mesh()
    options = BuildOptions(resolve_scale(mesh, scale), seed, full_refresh=full_refresh)
    return ci_domain(mesh, domain, options, no_publish)
