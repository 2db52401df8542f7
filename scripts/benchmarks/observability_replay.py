"""Benchmark: what observability adds to a full `duckmesh build`.

Builds a copy of the mesh (temporary folder, its own DuckDB file) with `duckmesh
build --scale S` in a subprocess, then replays the observability step on that build's
artifacts --repeat times (each replay records a new run: metrics of every product
version, SLOs, anomalies, ledger, alerts) and prints its median time as a share of
the dbt build and of the whole `duckmesh build` (whose time includes one such step).

    .venv/bin/python -m benchmarks.observability_replay [--scale 1] [--repeat 3]
Target: observability under 5% of a full build at scale 1.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from duckmesh.core.project import Mesh, Settings
from duckmesh.observability.config import load_config
from duckmesh.observability.pipeline import observe

ROOT = Path(__file__).resolve().parents[2]


SKIP = {".venv", ".venv-contracts", ".duckmesh", ".git", "data",
        "target", "dbt_packages", "logs", "published",
        ".pytest_cache", "__pycache__", "test-artifacts"}


def copy_mesh(dest: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP or n.endswith((".duckdb", ".duckdb.wal",
                                                              ".egg-info"))}

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="observability replays")
    parser.add_argument("--keep", action="store_true", help="keep the temporary mesh")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_observability_"))
    root = copy_mesh(work / "mesh")
    db = root / "mesh.duckdb"
    env = {**os.environ, "DUCKMESH_DB": str(db), "DUCKMESH_PLATFORM": "macros",
           "DUCKMESH_DOMAINS": "domains"}
    env.pop("DUCKMESH_DATA", None)
    try:
        print(f"building the mesh at scale {args.scale:g} in {root} ...", flush=True)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root), "build",
             "--scale", f"{args.scale:g}"], cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            return 1
        dbt_seconds = float(re.search(r"dbt build ([0-9.]+)s", done.stdout).group(1))

        mesh = Mesh(root, Settings(db=db))
        manifest = json.loads(mesh.manifest_path.read_text())
        results = json.loads((mesh.target_dir / "run_results.json").read_text())
        config = load_config(mesh)
        timings = []
        for replay in range(args.repeat):
            results["metadata"]["invocation_id"] = f"bench-replay-{replay}"
            began = time.perf_counter()
            with redirect_stdout(io.StringIO()):
                observation = observe(root, db, manifest, results, config)
            timings.append(time.perf_counter() - began)
        step = statistics.median(timings)
        rows = sum(s.measurement.row_count or 0 for s in observation.states)
        print(f"scale {args.scale:g}: {len(observation.states)} product versions, "
              f"{rows:,} product rows measured, {len(results['results'])} nodes recorded")
        print(f"duckmesh build (wall: data, deps, dbt build, steps): {wall:8.2f} s")
        print(f"dbt build:                                           {dbt_seconds:8.2f} s")
        print(f"observability step (median of {args.repeat}):"
              f"{'':>{23 - len(str(args.repeat))}}{step:8.2f} s  "
              f"({', '.join(f'{t:.2f}' for t in timings)})")
        print(f"share of the dbt build:                              "
              f"{100 * step / dbt_seconds:7.2f} %")
        print(f"share of the whole build (without the step):         "
              f"{100 * step / (wall - step):7.2f} %")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
