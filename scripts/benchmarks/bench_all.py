"""Every benchmark in one run: CLI start-up, engine overhead, platform overhead, no-op
rebuild, consumer latency, large synthetic meshes, the plain-dbt peer and growth with the
data. Prints one table and writes target/bench/<benchmark>.json plus
target/bench/all.json. --quick runs a small version (scale 0.1, one repeat, meshes of
50/100/200 models, growth at 0.01 and 0.1) to check that everything works."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks import (
    bench_cli,
    bench_consumer,
    bench_engine,
    bench_growth,
    bench_noop,
    bench_peer,
    bench_platform,
    bench_scale,
)
from benchmarks.bench_common import Figure, print_table, write_json
from duckmesh.core.project import find_mesh


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="small and fast: scale 0.1, 1 repeat, 50/100/200 models")
    parser.add_argument("--scale", type=float, default=None,
                        help="scale of the platform/noop/consumer runs (default 1)")
    parser.add_argument("--engine-scales", default=None, help="default 0.1,1")
    parser.add_argument("--sizes", default=None, help="synthetic mesh sizes (100,500,1000)")
    parser.add_argument("--growth-scales", default=None, help="default 0.1,1,10")
    parser.add_argument("--repeat", type=int, default=None, help="default 3")
    parser.add_argument("--only", default=None,
                        help="comma-separated subset: "
                             "cli,engine,platform,noop,consumer,scale,peer,growth")


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    quick = args.quick
    scale = args.scale or (0.1 if quick else 1.0)
    engine_scales = [float(s) for s in (args.engine_scales or ("0.1" if quick else "0.1,1"))
                     .split(",")]
    sizes = [int(s) for s in (args.sizes or ("50,100,200" if quick else "100,500,1000"))
             .split(",")]
    growth_scales = [float(s) for s in (args.growth_scales or ("0.01,0.1" if quick
                                                              else "0.1,1,10")).split(",")]
    repeat = args.repeat or (1 if quick else 3)
    chosen = set((args.only or "cli,engine,platform,noop,consumer,scale,peer,growth")
                 .split(","))
    out_dir = mesh.target_dir / "bench"
    steps = {
        "cli": lambda work: bench_cli.measure(mesh.root, 3 if quick else 7),
        "engine": lambda work: bench_engine.measure(mesh, engine_scales, repeat, work),
        "platform": lambda work: bench_platform.measure(mesh, scale, repeat, work),
        "noop": lambda work: bench_noop.measure(mesh, scale, repeat, work),
        "consumer": lambda work: bench_consumer.measure(mesh, scale, max(5, repeat * 5), work),
        "scale": lambda work: bench_scale.measure(sizes, 10, 1, work),
        "peer": lambda work: bench_peer.measure(mesh, scale, repeat, work),
        "growth": lambda work: bench_growth.measure(mesh, growth_scales, 1, work),
    }
    figures: list[Figure] = []
    details: dict = {"quick": quick, "scale": scale, "engine_scales": engine_scales,
                     "sizes": sizes, "growth_scales": growth_scales, "repeat": repeat,
                     "seconds": {}}
    for name, step in steps.items():
        if name not in chosen:
            continue
        print(f"== bench {name} ...", flush=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"duckmesh-bench-{name}-") as work:
            try:
                step_figures, step_details = step(Path(work))
            except Exception as error:  # one failing benchmark must not hide the others
                step_figures = [Figure(name, "failed", None, note=str(error)[:200])]
                step_details = {"error": str(error)}
        details["seconds"][name] = time.perf_counter() - started
        write_json(out_dir, name, step_figures, step_details)
        print_table(step_figures)
        figures += step_figures
    print("\n== all benchmarks", flush=True)
    print_table(figures)
    print(f"-> {write_json(out_dir, 'all', figures, details)}")
    return 0
