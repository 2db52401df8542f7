"""Growth with the data: at each --scales (default 1,10; scale 1 = 1M orders, 3M
order lines), side by side in one work copy and on data of the same size:
  floor     the compiled SQL of the whole mesh run directly in DuckDB (bench engine),
  dbt       `dbt build` in a fresh process into an empty database file,
  duckmesh  the whole `duckmesh build` in a fresh process with nothing from a previous
            build (no database, snapshot, validation cache or build state): source
            checks, dbt build, catalog, publish, observability (cold),
  steady    the steady state: after that build (seed 42), the whole `duckmesh build` of a
            new data set of the same size (seed 43, generated beforehand), where every
            source has new rows, so every product is rebuilt and published anew; with
            its publish and dbt build steps (target/last_build/steps.json) as shares of
            the floor.
Each in wall and CPU seconds (the fastest of --repeat runs), the ratios to the floor,
the cost per million orders and how it moves between the two largest scales (1.0 =
flat, below 1 falls), and the peak memory (RSS) of each side against the profile's
memory_limit and the machine's memory. Unit tests are left out of the dbt and floor runs
(dbt only); the whole `duckmesh build` runs them as a user's build does. --sides runs a
subset (a large scale can take the floor and dbt alone)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_common import (
    Figure,
    cpu_seconds,
    dbt_env,
    machine,
    print_table,
    remove_db,
    run_cpu,
    run_dbt,
    run_dbt_cpu,
    work_mesh,
    write_json,
)
from benchmarks.bench_engine import direct_plan, profile_settings, run_direct
from duckmesh.core.project import Mesh, find_mesh
from duckmesh.sources import generate

ORDERS_PER_SCALE = 1_000_000  # scale 1 = 1M orders (sources/generate.py)
SIDES = ("floor", "dbt", "duckmesh", "steady")
DEFAULT_SIDES = ("floor", "dbt", "steady")
NEW_SEED = 43  # the steady side's new data set (the first build reads seed 42)
# what a cold `duckmesh build` must not find from an earlier one
BUILD_LEFTOVERS = ("published", "target", "logs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scales", default="1,10", help="comma-separated (default 1,10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side (default 1)")
    parser.add_argument("--sides", default=",".join(DEFAULT_SIDES),
                        help=f"what to run at each scale, of {','.join(SIDES)} (default "
                             f"{','.join(DEFAULT_SIDES)})")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    scales = sorted(float(s) for s in args.scales.split(","))
    sides = tuple(side for side in SIDES if side in args.sides.split(","))
    figures, details = measure(mesh, scales, args.repeat, args.work, sides)
    print_table(figures)
    print(f"-> {write_json(mesh.target_dir / 'bench', 'growth', figures, details)}")
    return 0


def _peak_children_gb() -> float:
    """Peak RSS of the largest child process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024


def _peak_self_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _fresh(copy: Mesh, db: Path) -> None:
    remove_db(db)
    for name in BUILD_LEFTOVERS:
        shutil.rmtree(copy.root / name, ignore_errors=True)


def measure_scale(mesh: Mesh, copy: Mesh, work_dir: Path, scale: float, repeat: int,
                  sides: tuple[str, ...] = SIDES) -> dict[str, float]:
    data_dir = mesh.data_dir(scale)
    generate.generate(data_dir, scale=scale, log=lambda *_: None)
    db = copy.root / "mesh.duckdb"
    direct_db = work_dir / "direct" / "mesh.duckdb"  # same file name: same catalog name
    direct_db.parent.mkdir(parents=True, exist_ok=True)
    env = dbt_env(db, data_dir)
    _fresh(copy, db)
    run_dbt(copy.root, ["deps"], env)
    run_dbt(copy.root, ["compile"], env)  # empty database: the full-build SQL
    plan = direct_plan(json.loads((copy.target_dir / "manifest.json").read_text()), copy)
    threads = int(os.environ.get("DUCKMESH_THREADS", "4"))
    settings = profile_settings(copy)
    samples: dict[str, list[float]] = {f"{side} {unit}": [] for side in sides
                                       for unit in ("wall", "CPU")}
    peaks = {side: 0.0 for side in sides}
    for _ in range(repeat):
        if "floor" in sides:
            remove_db(direct_db)
            before = cpu_seconds()
            samples["floor wall"].append(run_direct(direct_db, plan, threads, settings))
            samples["floor CPU"].append(cpu_seconds() - before)
            peaks["floor"] = _peak_self_gb()
            remove_db(direct_db)
        if "dbt" in sides:
            remove_db(db)
            wall, cpu = run_dbt_cpu(copy.root, ["build", "--exclude-resource-type",
                                                "unit_test"], env)
            samples["dbt wall"].append(wall)
            samples["dbt CPU"].append(cpu)
            peaks["dbt"] = _peak_children_gb()
        if "duckmesh" in sides or "steady" in sides:
            _fresh(copy, db)
            wall, cpu = _duckmesh_build(copy, scale, env)
            if "duckmesh" in sides:
                samples["duckmesh wall"].append(wall)
                samples["duckmesh CPU"].append(cpu)
                peaks["duckmesh"] = _peak_children_gb()
        if "steady" in sides:
            other = work_dir / "data" / f"scale_{scale:g}_seed_{NEW_SEED}"
            generate.generate(other, scale=scale, seed=NEW_SEED, log=lambda *_: None)
            wall, cpu = _duckmesh_build(copy, scale, {**env, "DUCKMESH_DATA": str(other)},
                                        NEW_SEED)
            steps = json.loads((copy.target_dir / "last_build" / "steps.json").read_text())
            samples["steady wall"].append(wall)
            samples["steady CPU"].append(cpu)
            for step in ("publish", "dbt build"):
                samples.setdefault(f"steady {step} wall", []).append(steps[step]["wall"])
                samples.setdefault(f"steady {step} CPU", []).append(steps[step]["cpu"])
            peaks["steady"] = _peak_children_gb()
    result = {key: min(values) for key, values in samples.items()}
    result.update({f"peak RSS GB ({key}, largest so far)": value for key, value in peaks.items()})
    result["nodes"] = float(len(plan))
    return result


def _duckmesh_build(copy: Mesh, scale: float, env: dict[str, str], seed: int | None = None
                    ) -> tuple[float, float]:
    """The whole `duckmesh build` in a fresh process: wall and CPU seconds."""
    seeded = ["--seed", str(seed)] if seed is not None else []
    return run_cpu([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(copy.root),
                    "build", "--scale", f"{scale:g}", *seeded], copy.root, env)


def measure(mesh: Mesh, scales: list[float], repeat: int, work: Path | None = None,
            sides: tuple[str, ...] = SIDES) -> tuple[list[Figure], dict]:
    with tempfile.TemporaryDirectory(prefix="duckmesh-bench-growth-") as tmp:
        work_dir = Path(work or tmp)
        copy = work_mesh(mesh, work_dir)
        per_scale = {scale: measure_scale(mesh, copy, work_dir, scale, repeat, sides)
                     for scale in scales}
    return figures_of(per_scale, profile_settings(mesh)), {
        "scales": scales, "repeat": repeat, "sides": sides, "per_scale": per_scale}


def figures_of(per_scale: dict[float, dict[str, float]], settings: dict[str, str]
               ) -> list[Figure]:
    figures: list[Figure] = []
    for scale, r in per_scale.items():
        tag = f"scale {scale:g}"
        millions = scale * ORDERS_PER_SCALE / 1e6
        present = [side for side in SIDES if f"{side} wall" in r]
        for side in present:
            figures.append(Figure(
                "growth", f"{tag}: {side}", r[f"{side} wall"],
                note=f"CPU {r[f'{side} CPU']:.1f} s; "
                     f"{r[f'{side} wall'] / millions:.2f} s wall, "
                     f"{r[f'{side} CPU'] / millions:.2f} s CPU per million orders"))
        if "floor" in present and "dbt" in present:
            figures.append(Figure(
                "growth", f"{tag}: dbt / floor", r["dbt wall"] / r["floor wall"], unit="x",
                target="<= 1.3x" if scale >= 1 else "",
                note=f"CPU {r['dbt CPU'] / r['floor CPU']:.2f}x (target <= 1.25x)"))
        if "floor" in present and "duckmesh" in present:
            figures.append(Figure(
                "growth", f"{tag}: duckmesh build (cold) / floor",
                r["duckmesh wall"] / r["floor wall"], unit="x",
                target="<= 1.6x" if scale >= 1 else "",
                note=f"CPU {r['duckmesh CPU'] / r['floor CPU']:.2f}x"))
        if "floor" in present and "steady" in present:
            figures += _steady_figures(tag, scale, r)
        for side in present:
            figures.append(Figure(
                "growth", f"{tag}: peak RSS, {side}",
                round(r[f"peak RSS GB ({side}, largest so far)"], 2), unit="",
                note=f"GB; memory_limit {settings.get('memory_limit', '?')}, "
                     f"machine {machine()['memory_gb']} GB"))
    ordered = sorted(per_scale)
    if len(ordered) >= 2:
        small, large = ordered[-2], ordered[-1]
        for side in (s for s in SIDES if f"{s} wall" in per_scale[large]):
            for unit in ("wall", "CPU"):
                a = per_scale[small][f"{side} {unit}"] / small
                b = per_scale[large][f"{side} {unit}"] / large
                figures.append(Figure(
                    "growth", f"cost per million orders, {side} {unit}: "
                              f"scale {large:g} / scale {small:g}",
                    b / a, unit="x", target="<= 1 (flat or falls)",
                    note=f"{a:.2f} -> {b:.2f} s per million orders"))
    return figures


def _steady_figures(tag: str, scale: float, r: dict[str, float]) -> list[Figure]:
    """The steady state against the floor, in CPU seconds (wall in the notes): the whole
    build, its publish step and its dbt build step."""
    floor = r["floor CPU"]
    return [
        Figure("growth", f"{tag}: duckmesh build, new data / floor (CPU)",
               r["steady CPU"] / floor, unit="x", target="<= 1.2x" if scale >= 10 else
               "<= 1.4x" if scale >= 1 else "",
               note=f"{r['steady CPU']:.1f} against {floor:.1f} CPU s; wall "
                    f"{r['steady wall'] / r['floor wall']:.2f}x"),
        Figure("growth", f"{tag}: publish step, new data / floor (CPU)",
               r["steady publish CPU"] / floor, unit="x",
               target="<= 0.15x" if scale >= 1 else "",
               note=f"publish {r['steady publish CPU']:.1f} CPU s, "
                    f"{r['steady publish wall']:.1f} s wall"),
        Figure("growth", f"{tag}: dbt build step, new data / floor (CPU)",
               r["steady dbt build CPU"] / floor, unit="x",
               target="<= 1.3x" if scale >= 1 else "",
               note=f"dbt build {r['steady dbt build CPU']:.1f} CPU s, "
                    f"{r['steady dbt build wall']:.1f} s wall")]
