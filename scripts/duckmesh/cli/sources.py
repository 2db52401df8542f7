"""`duckmesh generate` and `duckmesh quarantine`: the source data and what its checks set aside."""

from __future__ import annotations

from pathlib import Path

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import console
from duckmesh.core.project import MeshError


@click.command(help="Write the CRM CSV, order Parquet, ticket JSON lines and marketing files "
                    "for the fictional retailer. Same --scale and --seed give the same bytes.")
@params.scale
@params.seed
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="output folder (default data/scale_<scale> in the mesh)")
@click.option("--force", is_flag=True, help="regenerate even if present")
@click.option("--batch", type=int, default=None,
              help="also write batch N (>= 2) of the order system: new, late and updated "
                   "orders (orders_000N.parquet)")
@pass_state
def generate(state: CliState, scale: float | None, seed: int, out: Path | None, force: bool,
             batch: int | None) -> int:
    from duckmesh.core.fingerprint import resolve_scale
    from duckmesh.sources import generate as generator

    voice = console()
    try:
        if scale is None:  # the last build's data set (a given --out needs no mesh)
            scale = resolve_scale(state.mesh(), scale)
        folder = out or state.mesh().data_dir(scale)
        result = generator.generate(folder, scale=scale, seed=seed, force=force)
    except ValueError as error:
        raise MeshError(str(error)) from error
    voice.out(generator.describe(result))
    if batch is not None:
        try:
            generator.generate_batch(result.out_dir, batch)
        except ValueError as error:
            raise MeshError(str(error)) from error
    voice.out(f"written to {result.out_dir}")
    return 0


@click.command(help="Counts per source from quarantine.source_checks and, with --source, "
                    "the quarantined rows (line, reason, raw line).")
@click.option("--source", default=None, help="source.table, e.g. crm.customers")
@params.as_json
@pass_state
def quarantine(state: CliState, source: str | None, as_json: bool) -> int:
    from duckmesh.sources.quarantine import quarantined_rows, source_summary

    voice = console()
    mesh = state.mesh()
    if source is not None:
        rows = quarantined_rows(mesh, source)
        if as_json:
            voice.json([dict(zip(("file", "line", "reason", "raw"), r)) for r in rows])
        else:
            for file, line, reason, raw in rows:
                voice.out(f"{file}:{line}: {reason}\n    {raw}")
            if not rows:
                voice.out(f"{source}: 0 rows quarantined by the last build")
        return 0
    summary = source_summary(mesh)
    if as_json:
        keys = ("source", "domain", "rows", "quarantined", "drift", "error")
        voice.json([dict(zip(keys, row)) for row in summary])
    else:
        for name, domain, count, bad, drift, error in summary:
            voice.out(f"{name:<28} {domain:<18} {count:>9,} rows {bad:>6,} quarantined"
                      + (f"  drift: {', '.join(drift)}" if drift else "")
                      + (f"  FAILED: {error}" if error else ""))
    return 0
