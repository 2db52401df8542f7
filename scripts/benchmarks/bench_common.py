"""Shared pieces of the benchmarks: a work copy of the mesh, timing, dbt in a fresh
process, JSON results in target/bench/, and the printed table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

from duckmesh.core import builddb
from duckmesh.core.output import format_table
from duckmesh.core.project import Mesh, find_mesh
from duckmesh.sources import generate

# What a work copy leaves out (same list as tests/conftest.py).
SKIP = {".venv", ".venv-contracts", ".venv-snowflake", ".venv-bigquery", ".duckmesh", ".git", "data",
        "target", "dbt_packages", "logs", "published",
        ".pytest_cache", "__pycache__", "test-artifacts", "node_modules"}
DBT = str(Path(sys.executable).parent / "dbt")

T = TypeVar("T")


@dataclass
class Figure:
    """One measured figure: name, median seconds (or a ratio), the raw samples."""
    benchmark: str
    name: str
    value: float | None
    unit: str = "s"
    samples: list[float] = field(default_factory=list)
    target: str = ""
    note: str = ""

    def cell(self) -> str:
        if self.value is None:
            return "not available"
        if self.unit == "x":
            return f"{self.value:.2f}x"
        if self.unit == "%":
            return f"{self.value:.1f}%"
        if self.unit == "ms":
            return f"{self.value:.2f} ms"
        if self.unit == "":
            return f"{self.value:g}"
        return f"{self.value:.2f} s"


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(step: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started


def copy_project(source: Path, dest: Path) -> Path:
    """A clean copy of the mesh's sources (no data, target, database files)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in SKIP or n.endswith((".duckdb", ".duckdb.wal"))}
        if Path(folder).resolve() == source.resolve():
            skipped |= {n for n in names if n.endswith(".egg-info") or n == "mesh.duckdb"}
        return skipped

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=ignore, symlinks=False)
    return dest


def work_mesh(source: Mesh, work_dir: Path) -> Mesh:
    return Mesh(copy_project(source.root, work_dir / "mesh"))


@contextmanager
def work_copy(mesh: Mesh, scale: float, work: Path | None = None
              ) -> Iterator[tuple[Mesh, Path]]:
    """A copy of the mesh in ``work`` (default: a temporary folder, removed after) and
    the source data at ``scale``, generated once per scale beside the original."""
    with tempfile.TemporaryDirectory(prefix="duckmesh-bench-") as tmp:
        copy = work_mesh(mesh, Path(work or tmp))
        data_dir = mesh.data_dir(scale)
        generate.generate(data_dir, scale=scale, log=lambda *_: None)
        yield copy, data_dir


def dbt_env(db: Path, data_dir: Path | None = None, extra: dict[str, str] | None = None
            ) -> dict[str, str]:
    env = {**os.environ, "DUCKMESH_DB": str(db), "DUCKMESH_PLATFORM": "macros",
           "DUCKMESH_DOMAINS": "domains", **(extra or {})}
    if data_dir is not None:
        env["DUCKMESH_DATA"] = str(data_dir)
    return env


def run_dbt(root: Path, args: list[str], env: dict[str, str]) -> float:
    """`dbt <args>` in a fresh process, as a user runs it; the wall-clock seconds."""
    return run_dbt_cpu(root, args, env)[0]


def run_dbt_cpu(root: Path, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """`dbt <args>` in a fresh process: wall-clock and CPU seconds (user + system, all
    threads). CPU time hardly moves when other processes share the machine."""
    return run_cpu([DBT, *args, "--profiles-dir", "profiles"], root, env)


def run_cpu(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed in {cwd}:\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def cpu_seconds() -> float:
    """CPU seconds of this process so far (every thread, DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def remove_db(db: Path) -> None:
    """The database file, its products file (core/builddb.py) and their WALs."""
    products = builddb.products_path(db)
    for path in (db, db.with_name(db.name + ".wal"), products,
                 products.with_name(products.name + ".wal")):
        if path.exists():
            path.unlink()


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
        "memory_gb": _memory_gb(),
        "threads": os.environ.get("DUCKMESH_THREADS", "4"),
        "memory_limit": os.environ.get("DUCKMESH_MEMORY_LIMIT", "8GB"),
    }


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def write_json(out_dir: Path, name: str, figures: list[Figure], details: dict | None = None
               ) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    payload = {
        "benchmark": name,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "figures": [figure.__dict__ for figure in figures],
        "details": details or {},
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def print_table(figures: list[Figure]) -> None:
    rows = [[f.benchmark, f.name, f.cell(), f.target, f.note] for f in figures]
    print(format_table(["benchmark", "figure", "value", "target", "note"], rows), flush=True)


def add_standard_arguments(parser: argparse.ArgumentParser, repeat: int, what: str) -> None:
    """--scale, --repeat and --work, shared by the data benchmarks."""
    parser.add_argument("--scale", type=float, default=1.0, help="data size (default 1)")
    parser.add_argument("--repeat", type=int, default=repeat, help=f"{what} (default {repeat})")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")


def run_standard(args: argparse.Namespace, name: str,
                 measure: Callable[..., tuple[list[Figure], dict]]) -> int:
    """Measure, print the table and write target/bench/<name>.json."""
    mesh = find_mesh(args.project_dir)
    figures, details = measure(mesh, args.scale, args.repeat, args.work)
    print_table(figures)
    print(f"-> {write_json(mesh.target_dir / 'bench', name, figures, details)}")
    return 0
