"""Benchmark: governance check time against total `dbt build` time on a synthetic mesh.

    .venv/bin/python -m benchmarks.governance_scale [--models 1000] [--domains 10] [--runs 3]

Writes a governance-compliant synthetic mesh (duckmesh.synthetic) to a temporary
folder, builds it once with `dbt build` (the on-run-start hook runs every policy
and logs how long it took), then runs `dbt run-operation mesh_governance` --runs
times for the per-policy split. Prints the figures and the check/build ratio
(targets: check < 1 s, < 3% of the build). Wall-clock figures: the load average
is printed too, since other processes on the machine inflate both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DBT = str(Path(sys.executable).parent / "dbt")
HOOK_LINE = re.compile(r"DuckMesh governance: .* over (\d+) models \((\d+) public\) in ([\d.]+)s")
MARKER = "DUCKMESH_GOVERNANCE_JSON "


def dbt(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DUCKMESH_DB": str(root / "mesh.duckdb"), "DUCKMESH_PLATFORM": "macros",
           "DUCKMESH_DOMAINS": "domains", "DUCKMESH_THREADS": "2",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run([DBT, *args, "--project-dir", str(root), "--profiles-dir",
                           str(root / "profiles")], cwd=root, env=env, capture_output=True,
                          text=True)


def write_mesh(dest: Path, models: int, domains: int) -> Path:
    try:
        from benchmarks.synthetic import write_synthetic_mesh
    except ImportError as error:  # the generator is another capability's module
        raise SystemExit(f"duckmesh.synthetic is not available ({error}): the benchmark needs "
                         "write_synthetic_mesh(dest, n_models, n_domains)") from error
    return write_synthetic_mesh(dest, models, domains)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="run-operation repetitions")
    parser.add_argument("--keep", type=Path, default=None, help="build here and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_governance_") as tmp:
        root = write_mesh((args.keep or Path(tmp)) / "mesh", args.models, args.domains)
        for step in (["deps"], ["parse"]):
            result = dbt(root, *step)
            if result.returncode:
                raise SystemExit(f"dbt {step[0]} failed:\n{result.stdout[-3000:]}")

        started = time.perf_counter()
        build = dbt(root, "build")
        build_seconds = time.perf_counter() - started
        hook = HOOK_LINE.search(build.stdout)
        if build.returncode or not hook:
            raise SystemExit(f"dbt build failed or ran no governance hook:\n{build.stdout[-5000:]}")
        n_models, n_public, hook_seconds = int(hook[1]), int(hook[2]), float(hook[3])

        runs = []
        for _ in range(args.runs):
            result = dbt(root, "run-operation", "mesh_governance", "--args", "{format: json}")
            line = next(text for text in result.stdout.splitlines() if MARKER in text)
            runs.append(json.loads(line.split(MARKER, 1)[1]))
        checks = [run["seconds"] for run in runs]
        policies = {name: statistics.median(run["timings"][name] for run in runs)
                    for name in runs[0]["timings"]}

    print(f"synthetic mesh: {n_models} models ({n_public} public) in {args.domains} domains; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"dbt build (wall, incl. parse):        {build_seconds:8.2f} s")
    print(f"governance check inside the build:    {hook_seconds:8.3f} s "
          f"({100 * hook_seconds / build_seconds:.2f}% of the build)")
    print(f"governance check, run-operation x{args.runs}:  median {statistics.median(checks):.3f} s, "
          f"min {min(checks):.3f} s")
    print("per policy (median s): " + ", ".join(f"{k} {v:.3f}" for k, v in policies.items()))
    ok = hook_seconds < 1 and hook_seconds / build_seconds < 0.03
    print(f"targets (< 1 s and < 3% of the build): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
