"""Large meshes: synthetic meshes of growing size (duckmesh bench synthetic: N models
over 10 domains, stg -> int -> products with cross-domain refs) and how long dbt's
parse (cold, and partial parsing with nothing / one file changed), the governance
check and the catalog take. Growth compares the cost per added model from the small
to the middle mesh with the cost per added model from the middle to the large one:
1.0 is linear, above 1 grows faster than linear (a fresh process's fixed start-up
cost cancels out)."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import synthetic
from benchmarks.bench_common import (
    Figure,
    dbt_env,
    median,
    print_table,
    run_dbt,
    run_dbt_cpu,
    timed,
    write_json,
)
from duckmesh.core.dbt import parse_state_env
from duckmesh.core.project import Mesh, find_mesh


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100,500,1000", help="models per mesh")
    parser.add_argument("--domains", type=int, default=10, help="domains (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (default 1)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    sizes = [int(s) for s in args.sizes.split(",")]
    figures, details = measure(sizes, args.domains, args.repeat, args.work)
    print_table(figures)
    print(f"-> {write_json(mesh.target_dir / 'bench', 'scale', figures, details)}")
    return 0


def measure(sizes: list[int], domains: int, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    with tempfile.TemporaryDirectory(prefix="duckmesh-bench-") as tmp:
        work_dir = Path(work or tmp)
        per_size = {n: measure_size(work_dir / f"synthetic_{n}", n, domains, repeat)
                    for n in sizes}
    figures = []
    for n, timings in per_size.items():
        for name, value in timings.items():
            figures.append(Figure("scale", f"{n} models: {name}", value,
                                  target=_target(name, n),
                                  note=f"{1000 * value / n:.1f} ms/model" if value else ""))
    ordered = sorted(sizes)
    if len(ordered) >= 3:
        # Marginal cost per added model between consecutive sizes: a fresh dbt process
        # has a fixed start-up cost that would hide the growth in a plain ratio.
        first, middle, last = ordered[0], ordered[len(ordered) // 2], ordered[-1]
        for name in per_size[first]:
            a, b, c = (per_size[n][name] for n in (first, middle, last))
            if not (a and b and c):
                continue
            early = (b - a) / (middle - first)
            late = (c - b) / (last - middle)
            figures.append(Figure(
                "scale", f"growth: {name}", late / early if early > 0 else None, unit="x",
                target="~1 (linear)",
                note=f"{1000 * early:.1f} -> {1000 * late:.1f} ms per added model"))
    return figures, {"sizes": sizes, "domains": domains, "seconds": per_size}


# the performance goals for the largest synthetic mesh
TARGETS = {"governance check, unchanged (wall)": "<= 3 s",
           "governance check, unchanged (CPU)": "<= 3 s",
           "governance check, unchanged, with a published manifest (wall)": "<= 3 s",
           "governance check, unchanged, with a published manifest (CPU)": "<= 3 s",
           "catalog from manifest": "<= 10 s"}


def _target(name: str, models: int) -> str:
    return f"{TARGETS[name]} at 10,000" if name in TARGETS and models >= 10_000 else ""


def measure_size(root: Path, n_models: int, domains: int, repeat: int
                 ) -> dict[str, float | None]:
    synthetic.write_synthetic_mesh(root, n_models, domains)
    # the profile's values as duckmesh gives them to dbt (parse_state_env), so the
    # governance check's dbt run starts from these parses, as after a `duckmesh build`
    env = {**dbt_env(root / "mesh.duckdb"), **parse_state_env(Mesh(root).env(), root)}
    run_dbt(root, ["deps"], env)
    partial_state = root / "target" / "partial_parse.msgpack"
    cold, warm, one_change = [], [], []
    for attempt in range(repeat):
        if partial_state.exists():
            partial_state.unlink()
        cold.append(run_dbt_cpu(root, ["parse", "--no-partial-parse"], env))
        warm.append(run_dbt_cpu(root, ["parse"], env))
        model = next((root / "domains").glob("*/models/staging/*.sql"))
        model.write_text(model.read_text() + f"\n-- bench: change {attempt}\n")
        one_change.append(run_dbt_cpu(root, ["parse"], env))
    # the first check runs in dbt (from the last parse); the second finds no file
    # changed and runs the same macros over the saved manifest (governance/offline.py)
    first_s, first_cpu, _, _ = _governance(root, env)
    governance_s, governance_cpu, governance_inside, source = _governance(root, env)
    # as after a publish of this mesh: P09 and the SemVer comparison read the published
    # manifest (as large as the build's), outside the files dbt reads
    published = root / "published" / "manifest.json"
    published.parent.mkdir(exist_ok=True)
    shutil.copyfile(root / "target" / "governance" / "manifest.json", published)
    with_published_s, with_published_cpu, _, published_source = _governance(root, env)
    return {
        "parse cold (wall)": median([w for w, _ in cold]),
        "parse cold (CPU)": median([c for _, c in cold]),
        "parse partial, nothing changed (wall)": median([w for w, _ in warm]),
        "parse partial, nothing changed (CPU)": median([c for _, c in warm]),
        "parse partial, one file changed (wall)": median([w for w, _ in one_change]),
        "parse partial, one file changed (CPU)": median([c for _, c in one_change]),
        "governance check, first, in dbt (wall)": first_s,
        "governance check, first, in dbt (CPU)": first_cpu,
        "governance check, unchanged (wall)": governance_s if source == "saved manifest" else None,
        "governance check, unchanged (CPU)": governance_cpu if source == "saved manifest" else None,
        "governance policies, inside macros": governance_inside,
        "governance check, unchanged, with a published manifest (wall)":
            with_published_s if published_source == "saved manifest" else None,
        "governance check, unchanged, with a published manifest (CPU)":
            with_published_cpu if published_source == "saved manifest" else None,
        "catalog from manifest": _catalog(Mesh(root)),
    }


def _governance(root: Path, env: dict[str, str]
                ) -> tuple[float | None, float | None, float | None, str | None]:
    """Wall and CPU seconds of `duckmesh governance check`, the policies' own time and
    where they ran (dbt, or the saved manifest)."""
    try:
        import duckmesh.governance  # noqa: F401
    except ImportError:
        return None, None, None, None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root),
                             "governance", "check", "--json"], cwd=root, env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None, None, None, None  # the check did not run (its output says why)
    return seconds, cpu, report.get("seconds"), report.get("source")


def _catalog(mesh: Mesh) -> float | None:
    try:
        from duckmesh.catalog import store as catalog
    except ImportError:
        return None
    manifest = json.loads(mesh.manifest_path.read_text())
    _, seconds = timed(lambda: catalog.build_catalog(manifest, None, None, "mesh.duckdb", mesh))
    return seconds
