"""Domain autonomy: one domain built alone against the whole mesh, side by side.

1. At --scale (default 1), in one work copy: the whole `duckmesh build` (every domain,
   then catalog, publish, observability) and `duckmesh build --domain marketing` (its
   own nodes only, sales and customers read from that build's publish), each a fresh
   process, alternated --repeat times; wall and CPU seconds and their ratio.
2. On the synthetic mesh of --models models (default 1,000 over 10 domains): a cold
   `dbt parse` (no partial parsing) of the whole mesh from the root against the same
   parse of one domain alone from its folder (the last domain, which reads the most
   upstream domains, and the first, which reads none).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks import synthetic
from benchmarks.bench_common import (
    DBT,
    Figure,
    add_standard_arguments,
    dbt_env,
    median,
    run_cpu,
    run_standard,
    work_copy,
)
from duckmesh.core.project import Mesh

DOMAIN = "marketing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 3, "builds of each kind")
    parser.add_argument("--models", type=int, default=1000,
                        help="models of the synthetic mesh for the parse figures (default 1000)")


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "domain", lambda mesh, scale, repeat, work: measure(
        mesh, scale, repeat, work, args.models))


def _duckmesh(root: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    return run_cpu([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root), *args],
                   root, env)


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None,
            models: int = 1000) -> tuple[list[Figure], dict]:
    tag = f"scale {scale:g}"
    with work_copy(mesh, scale, work) as (copy, data_dir):
        env = dbt_env(copy.root / "mesh.duckdb", data_dir)  # the data, generated once
        whole_args = ["build", "--scale", f"{scale:g}"]
        domain_args = [*whole_args, "--domain", DOMAIN]
        _duckmesh(copy.root, env, *whole_args)  # warm-up: data checks cached, a publish
        _duckmesh(copy.root, env, *domain_args)  # warm-up: the domain's workspace
        whole, domain = [], []
        for _ in range(repeat):
            whole.append(_duckmesh(copy.root, env, *whole_args))
            domain.append(_duckmesh(copy.root, env, *domain_args))
    whole_wall, whole_cpu = median([w for w, _ in whole]), median([c for _, c in whole])
    dom_wall, dom_cpu = median([w for w, _ in domain]), median([c for _, c in domain])

    parse = parse_figures(models)
    figures = [
        Figure("domain", f"{tag}: whole mesh, duckmesh build", whole_wall,
               samples=[w for w, _ in whole], note=f"CPU {whole_cpu:.1f} s"),
        Figure("domain", f"{tag}: duckmesh build --domain {DOMAIN}", dom_wall,
               samples=[w for w, _ in domain], note=f"CPU {dom_cpu:.1f} s"),
        Figure("domain", f"{tag}: {DOMAIN} alone / whole mesh, wall",
               _ratio(dom_wall, whole_wall), unit="x", target="<= 0.33x"),
        Figure("domain", f"{tag}: {DOMAIN} alone / whole mesh, CPU",
               _ratio(dom_cpu, whole_cpu), unit="x", target="<= 0.33x"),
        *parse["figures"],
    ]
    return figures, {"scale": scale, "whole": whole, "domain": domain,
                     "parse": parse["details"]}


def parse_figures(models: int) -> dict:
    """Cold `dbt parse` of the synthetic mesh: whole (root) against one domain alone."""
    with tempfile.TemporaryDirectory(prefix="duckmesh-bench-parse-") as tmp:
        root = synthetic.write_synthetic_mesh(Path(tmp) / "mesh", models)
        plan = synthetic.describe(root)
        env = dbt_env(root / "mesh.duckdb")
        run_cpu([DBT, "deps", "--profiles-dir", "profiles"], root, env)
        parse = [DBT, "parse", "--no-partial-parse"]
        whole = run_cpu([*parse, "--profiles-dir", "profiles"], root, env)
        results = {"whole": whole}
        for which in (plan.domains[-1], plan.domains[0]):
            folder = root / "domains" / which.name
            alone_env = {key: value for key, value in env.items()
                         if key not in ("DUCKMESH_PLATFORM", "DUCKMESH_DOMAINS")}
            run_cpu([DBT, "deps", "--profiles-dir", "../../profiles"], folder, alone_env)
            results[which.name] = run_cpu([*parse, "--profiles-dir", "../../profiles"],
                                          folder, alone_env)
    last, first = plan.domains[-1].name, plan.domains[0].name
    figures = [Figure("domain", f"{models} models: cold dbt parse, whole mesh", whole[0],
                      note=f"CPU {whole[1]:.1f} s")]
    for name, reads in ((last, "reads the most upstream domains"), (first, "reads none")):
        wall, cpu = results[name]
        figures.append(Figure("domain", f"{models} models: cold dbt parse, {name} alone", wall,
                              note=f"CPU {cpu:.1f} s; {reads}; "
                                   f"{_ratio(wall, whole[0]):.2f}x the whole"))
    return {"figures": figures, "details": {k: list(v) for k, v in results.items()}}
