"""`duckmesh generate` and `duckmesh quarantine`: the source data and what its checks set aside."""

from __future__ import annotations

import json
from pathlib import Path

import click

from duckmesh.cli.state import CliState, pass_state
from duckmesh.cli.types import SCALE
from duckmesh.core.project import MeshError


@click.command(help="Write the CRM CSV, order Parquet, ticket JSON lines and marketing files "
                    "for the fictional retailer. Same --scale and --seed give the same bytes.")
@click.option("--scale", type=SCALE, default=0.1, help="1 = 100k customers, 1M orders")
@click.option("--seed", type=int, default=42)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="output folder (default data/scale_<scale> in the mesh)")
@click.option("--force", is_flag=True, help="regenerate even if present")
@click.option("--batch", type=int, default=None,
              help="also write batch N (>= 2) of the order system: new, late and updated "
                   "orders (orders_000N.parquet)")
@pass_state
def generate(state: CliState, scale: float, seed: int, out: Path | None, force: bool,
             batch: int | None) -> int:
    from duckmesh.sources import generate as generator

    try:
        folder = out or state.mesh().data_dir(scale)
        result = generator.generate(folder, scale=scale, seed=seed, force=force)
    except ValueError as error:
        raise MeshError(str(error)) from error
    print(generator.describe(result))
    if batch is not None:
        try:
            generator.generate_batch(result.out_dir, batch)
        except ValueError as error:
            raise MeshError(str(error)) from error
    print(f"written to {result.out_dir}")
    return 0


@click.command(help="Counts per source from quarantine.source_checks and, with --source, "
                    "the quarantined rows (line, reason, raw line).")
@click.option("--source", default=None, help="source.table, e.g. crm.customers")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@pass_state
def quarantine(state: CliState, source: str | None, as_json: bool) -> int:
    from duckmesh.sources.quarantine import quarantined_rows, source_summary

    mesh = state.mesh()
    if source is not None:
        rows = quarantined_rows(mesh, source)
        if as_json:
            print(json.dumps([dict(zip(("file", "line", "reason", "raw"), r)) for r in rows],
                             indent=2))
        else:
            for file, line, reason, raw in rows:
                print(f"{file}:{line}: {reason}\n    {raw}")
            if not rows:
                print(f"{source}: 0 rows quarantined by the last build")
        return 0
    summary = source_summary(mesh)
    if as_json:
        keys = ("source", "domain", "rows", "quarantined", "drift", "error")
        print(json.dumps([dict(zip(keys, row)) for row in summary], indent=2))
    else:
        for name, domain, count, bad, drift, error in summary:
            print(f"{name:<28} {domain:<18} {count:>9,} rows {bad:>6,} quarantined"
                  + (f"  drift: {', '.join(drift)}" if drift else "")
                  + (f"  FAILED: {error}" if error else ""))
    return 0
