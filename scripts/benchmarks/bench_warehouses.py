"""Warehouses: the whole mesh build (`duckmesh build`, then `duckmesh warehouse build`)
at one scale on DuckDB and on the local emulators of Snowflake (fakesnow) and BigQuery
(crucible), side by side, then every product compared with DuckDB's. The emulators are
not warehouses (each runs DuckDB under a SQL translation layer, in one process): the
figures say what a test run against them costs, not what a warehouse would take."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_common import Figure, add_standard_arguments, median, run_standard, work_copy
from duckmesh.core.project import Mesh, MeshError
from duckmesh.scaleout import warehouse as warehouses

BUILT = re.compile(r"mesh built (?:on \w+ )?in ([0-9.]+)s \((?:load ([0-9.]+)s, )?dbt build ([0-9.]+)s\)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 1, "builds per engine")
    parser.set_defaults(scale=0.1)


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "warehouses", measure)


def duckmesh(root: Path, args: list[str], env: dict[str, str] | None = None) -> str:
    """`duckmesh <args>` in a fresh process, as a user runs it; its output."""
    result = subprocess.run([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root), *args],
                            capture_output=True, text=True, env={**os.environ, **(env or {})})
    differ = result.returncode == 1 and "compare" in args  # products differ: a figure
    if result.returncode != 0 and not differ:
        raise MeshError(f"duckmesh {' '.join(args)} failed:\n{result.stdout[-3000:]}\n"
                        f"{result.stderr[-2000:]}")
    return result.stdout


def timings(output: str) -> tuple[float, float | None, float]:
    """(whole, load or None, dbt build) seconds from a build's last line."""
    found = BUILT.search(output)
    if found is None:
        raise MeshError(f"no timing line in the build's output:\n{output[-2000:]}")
    whole, load, build = found.groups()
    return float(whole), float(load) if load else None, float(build)


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    tag = f"scale {scale:g}"
    figures: list[Figure] = []
    details: dict = {"scale": scale}
    with work_copy(mesh, scale, work) as (copy, _):
        duck = [timings(duckmesh(copy.root, ["build", "--scale", str(scale), "--full-refresh"]))
                for _ in range(repeat)]
        figures.append(Figure("warehouses", f"dbt build on DuckDB ({tag})",
                              median([d[2] for d in duck]), samples=[d[2] for d in duck]))
        details["duckdb"] = duck
        for target, wh in warehouses.WAREHOUSES.items():
            if not wh.dbt(copy).is_file():
                figures.append(Figure("warehouses", f"dbt build on {target} ({tag})", None,
                                      note=f"{wh.venv}/ missing: make warehouses"))
                continue
            runs = []
            with warehouses.running_emulator(wh, warehouses.free_port()) as env:
                for _ in range(repeat):
                    runs.append(timings(duckmesh(copy.root, [
                        "warehouse", "build", "--target", target, "--scale", str(scale)], env)))
                compared = json.loads(duckmesh(copy.root, [
                    "warehouse", "compare", "--target", target, "--json"], env))
            emulator = wh.emulator.split()[0].split("/")[-1]
            build = [r[2] for r in runs]
            load = [r[1] or 0.0 for r in runs]
            equal = sum(c["equal"] for c in compared)
            figures += [
                Figure("warehouses", f"dbt build on {target}, {emulator} ({tag})", median(build),
                       samples=build),
                Figure("warehouses", f"{target} / DuckDB ({tag})",
                       median(build) / figures[0].value if figures[0].value else None, "x"),
                Figure("warehouses", f"source load into {emulator} ({tag})", median(load),
                       samples=load),
                Figure("warehouses", f"products equal on {target} ({tag})", float(equal), "",
                       note=f"{equal} of {len(compared)} product versions"),
            ]
            details[target] = {"runs": runs, "products": {c["product"]: c["equal"] for c in compared}}
    return figures, details
