"""No-op rebuild: after a full build, a second build with nothing changed. Measured as
`duckmesh build --changed-only` (state:modified+ against the last successful build,
whole command) and as the bare `dbt build --select state:modified+ --state ...`,
next to a plain second `dbt build` (incremental models merge nothing new) and a
changed-only build after one consumer model's SQL changed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.bench_common import (
    Figure,
    add_standard_arguments,
    dbt_env,
    median,
    run_cpu,
    run_dbt_cpu,
    run_standard,
    work_copy,
)
from duckmesh.core.project import Mesh

TOUCHED_MODEL = Path("models/products/executive_kpis_v1.sql")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 3, "runs")


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "noop", measure)


def duckmesh(root: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """`duckmesh <args>` in a fresh process: wall and CPU seconds."""
    return run_cpu([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root), *args],
                   root, env)


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    with work_copy(mesh, scale, work) as (copy, data_dir):
        env = dbt_env(copy.root / "mesh.duckdb", data_dir,
                      {"DUCKMESH_ROOT": str(copy.root)})
        build = ["build", "--scale", f"{scale:g}"]
        first = duckmesh(copy.root, env, *build)[0]
        state = ["--select", "state:modified+", "--state", str(copy.target_dir / "last_build")]
        # bare dbt gets the data folder the build gives dbt (build/pipeline.py:
        # data_for_dbt), so its sources are the state's, not modified
        bare_env = {**env, "DUCKMESH_DATA": str(copy.root / "data" / "current")}
        noop, bare, plain = [], [], []
        for _ in range(repeat):
            noop.append(duckmesh(copy.root, env, *build, "--changed-only"))
            bare.append(run_dbt_cpu(copy.root, ["build", *state], bare_env))
        for _ in range(repeat):
            plain.append(run_dbt_cpu(copy.root, ["build"], bare_env))
        touched = copy.root / TOUCHED_MODEL
        touched.write_text(touched.read_text() + "\n-- bench: one model changed\n")
        one = [duckmesh(copy.root, env, *build, "--changed-only")]
    tag = f"scale {scale:g}"

    def wall(samples: list[tuple[float, float]]) -> float:
        return median([w for w, _ in samples])

    def cpu(samples: list[tuple[float, float]]) -> str:
        return f"CPU {median([c for _, c in samples]):.1f} s"

    figures = [
        Figure("noop", f"{tag}: first full build (duckmesh build)", first, samples=[first]),
        Figure("noop", f"{tag}: no-op, duckmesh build --changed-only", wall(noop),
               target="<= 5 s", note=f"whole command; {cpu(noop)}"),
        Figure("noop", f"{tag}: no-op, dbt build -s state:modified+", wall(bare),
               target="<= 5 s", note=f"dbt only; {cpu(bare)}"),
        Figure("noop", f"{tag}: second plain dbt build (no state)", wall(plain),
               note=f"incremental models merge nothing; {cpu(plain)}"),
        Figure("noop", f"{tag}: one consumer model changed, --changed-only", wall(one),
               note=f"{TOUCHED_MODEL.name}; {cpu(one)}"),
    ]
    return figures, {"scale": scale, "first": first, "noop": noop, "bare": bare,
                     "plain": plain, "one_model": one}
