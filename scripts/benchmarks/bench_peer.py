"""Peer: the same models as a plain dbt project against DuckMesh's `dbt build`.

Two work copies of the mesh on the same data at --scale: DuckMesh as it is, and a
plain copy whose dbt_project.yml files (the root and every domain) declare no
on-run-start hook (governance, the publish attach) and no post-hook (the latest alias).
Everything else is the same: models, contracts and their DDL, data tests, unit tests.
Each side runs `dbt build` in a fresh process into an empty database file, alternated
--repeat times; medians of wall and CPU seconds and their ratio (goal: the governance
hook and the post-hooks add at most 5%)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import yaml

from benchmarks.bench_common import (
    Figure,
    add_standard_arguments,
    dbt_env,
    median,
    remove_db,
    run_dbt,
    run_dbt_cpu,
    run_standard,
    work_mesh,
)
from duckmesh.core.project import Mesh
from duckmesh.sources import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 3, "builds of each side")


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "peer", measure)


def strip_platform_hooks(project_file: Path) -> list[str]:
    """Remove on-run-start/on-run-end and every +pre-hook/+post-hook from one
    dbt_project.yml; return what was removed (for the record)."""
    config = yaml.safe_load(project_file.read_text()) or {}
    removed = [key for key in ("on-run-start", "on-run-end") if config.pop(key, None)]

    def strip(node: object, where: str) -> None:
        if not isinstance(node, dict):
            return
        for key in list(node):
            if key in ("+post-hook", "+pre-hook", "post-hook", "pre-hook"):
                del node[key]
                removed.append(f"{where}{key}")
            else:
                strip(node[key], f"{where}{key}.")

    strip(config.get("models"), "models.")
    project_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return removed


def plain_copy(mesh: Mesh, dest: Path) -> tuple[Mesh, dict[str, list[str]]]:
    copy = work_mesh(mesh, dest)
    removed = {}
    for project_file in [copy.root / "dbt_project.yml",
                         *sorted((copy.root / "domains").glob("*/dbt_project.yml"))]:
        removed[str(project_file.relative_to(copy.root))] = strip_platform_hooks(project_file)
    return copy, removed


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    data_dir = mesh.data_dir(scale)
    generate.generate(data_dir, scale=scale, log=lambda *_: None)
    with tempfile.TemporaryDirectory(prefix="duckmesh-bench-peer-") as tmp:
        work_dir = Path(work or tmp)
        duckmesh = work_mesh(mesh, work_dir / "duckmesh")
        plain, removed = plain_copy(mesh, work_dir / "plain")
        sides = {"duckmesh": duckmesh, "plain": plain}
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for copy in sides.values():
            env = dbt_env(copy.root / "mesh.duckdb", data_dir)
            run_dbt(copy.root, ["deps"], env)
            run_dbt(copy.root, ["parse"], env)  # both sides partial-parse their runs
        for _ in range(repeat):
            for name, copy in sides.items():
                db = copy.root / "mesh.duckdb"
                remove_db(db)
                samples[name].append(run_dbt_cpu(copy.root, ["build"], dbt_env(db, data_dir)))
    tag = f"scale {scale:g}"
    wall = {name: median([w for w, _ in runs]) for name, runs in samples.items()}
    cpu = {name: median([c for _, c in runs]) for name, runs in samples.items()}
    figures = [
        Figure("peer", f"{tag}: DuckMesh dbt build", wall["duckmesh"],
               samples=[w for w, _ in samples["duckmesh"]], note=f"CPU {cpu['duckmesh']:.1f} s"),
        Figure("peer", f"{tag}: plain dbt project, same models", wall["plain"],
               samples=[w for w, _ in samples["plain"]], note=f"CPU {cpu['plain']:.1f} s"),
        Figure("peer", f"{tag}: DuckMesh / plain, wall", wall["duckmesh"] / wall["plain"],
               unit="x", target="<= 1.05x"),
        Figure("peer", f"{tag}: DuckMesh / plain, CPU", cpu["duckmesh"] / cpu["plain"],
               unit="x", target="<= 1.05x", note="load-proof"),
    ]
    return figures, {"scale": scale, "samples": samples, "removed": removed}
