"""No-op rebuild: after a full build, a second build with nothing changed. Measured as
`duckmesh build --changed-only` (state:modified+ against the last successful build,
whole command) and as the bare `dbt build --select state:modified+ --state ...`,
next to a plain second `dbt build` (incremental models merge nothing new) and a
changed-only build after one consumer model's SQL changed."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import generate
from .bench_common import (Figure, dbt_env, median, print_table, run_dbt, work_mesh,
                           write_json)
from .project import Mesh, find_mesh

TOUCHED_MODEL = Path("models/products/executive_kpis_v1.sql")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, default=1.0, help="data size (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs (default 3)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    figures, details = measure(mesh, args.scale, args.repeat, args.work)
    print_table(figures)
    print(f"-> {write_json(mesh.target_dir / 'bench', 'noop', figures, details)}")
    return 0


def duckmesh(root: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root),
                             *args], cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"duckmesh {' '.join(args)} failed:\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-2000:]}")
    return seconds


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    with tempfile.TemporaryDirectory(prefix="duckmesh-bench-") as tmp:
        copy = work_mesh(mesh, Path(work or tmp))
        data_dir = mesh.data_dir(scale)
        generate.generate(data_dir, scale=scale, log=lambda *_: None)
        env = dbt_env(copy.root / "mesh.duckdb", data_dir,
                      {"DUCKMESH_ROOT": str(copy.root)})
        build = ["build", "--scale", f"{scale:g}"]
        first = duckmesh(copy.root, env, *build)
        state = ["--select", "state:modified+", "--state", str(copy.target_dir / "last_build")]
        noop, bare, plain = [], [], []
        for _ in range(repeat):
            noop.append(duckmesh(copy.root, env, *build, "--changed-only"))
            bare.append(run_dbt(copy.root, ["build", *state], env))
        for _ in range(repeat):
            plain.append(run_dbt(copy.root, ["build"], env))
        touched = copy.root / TOUCHED_MODEL
        touched.write_text(touched.read_text() + "\n-- bench: one model changed\n")
        one = [duckmesh(copy.root, env, *build, "--changed-only")]
    tag = f"scale {scale:g}"
    figures = [
        Figure("noop", f"{tag}: first full build (duckmesh build)", first, samples=[first]),
        Figure("noop", f"{tag}: no-op, duckmesh build --changed-only", median(noop),
               samples=noop, target="<= 5 s", note="whole command"),
        Figure("noop", f"{tag}: no-op, dbt build -s state:modified+", median(bare),
               samples=bare, target="<= 5 s", note="dbt only"),
        Figure("noop", f"{tag}: second plain dbt build (no state)", median(plain),
               samples=plain, note="incremental models merge nothing"),
        Figure("noop", f"{tag}: one consumer model changed, --changed-only", median(one),
               samples=one, note=str(TOUCHED_MODEL)),
    ]
    return figures, {"scale": scale, "first": first, "noop": noop, "bare": bare,
                     "plain": plain, "one_model": one}
