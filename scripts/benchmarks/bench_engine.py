"""Engine overhead: a full `dbt build` of the mesh (fresh process, empty database file)
against the floor, the same compiled SQL run directly in DuckDB from Python: seeds,
models and data tests in dependency order, as many concurrent nodes as dbt's threads,
the same database settings. Unit tests are left out of both (they exist only in dbt).
The ratio is median(dbt) / median(direct) over --repeat runs."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from benchmarks.bench_common import (
    Figure,
    cpu_seconds,
    dbt_env,
    median,
    print_table,
    remove_db,
    run_dbt,
    run_dbt_cpu,
    work_mesh,
    write_json,
)
from duckmesh.core import builddb
from duckmesh.core.project import Mesh, find_mesh
from duckmesh.sources import generate

RESOURCE_TYPES = {"seed", "model", "test"}


@dataclass(frozen=True)
class DirectNode:
    unique_id: str
    kind: str  # seed, view, table, test
    schema: str
    name: str
    sql: str  # compiled select (models, tests) or a read_csv (seeds)
    depends_on: tuple[str, ...]
    latest_alias: str | None = None  # versioned latest product: view <schema>.<name>
    database: str = ""  # "products": built into the products file, as dbt builds it

    @property
    def home(self) -> str:
        return f'"{self.database}"."{self.schema}"' if self.database else f'"{self.schema}"'

    def statements(self) -> list[str]:
        target = f'{self.home}."{self.name}"'
        if self.kind == "test":
            return [f"select count(*) from ({self.sql}) as dbt_test"]
        kind = "view" if self.kind == "view" else "table"
        statements = [f"create or replace {kind} {target} as {self.sql}"]
        if self.latest_alias:
            statements.append(f'create or replace view {self.home}."{self.latest_alias}" '
                              f"as select * from {target}")
        return statements


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scales", default="0.1,1", help="comma-separated (default 0.1,1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    scales = [float(s) for s in args.scales.split(",")]
    figures, details = measure(mesh, scales, args.repeat, args.work)
    print_table(figures)
    print(f"-> {write_json(mesh.target_dir / 'bench', 'engine', figures, details)}")
    return 0


def measure(mesh: Mesh, scales: list[float], repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    with tempfile.TemporaryDirectory(prefix="duckmesh-bench-") as tmp:
        work_dir = Path(work or tmp)
        copy = work_mesh(mesh, work_dir)
        figures: list[Figure] = []
        details: dict = {}
        for scale in scales:
            scale_figures, scale_details = measure_scale(mesh, copy, work_dir, scale, repeat)
            figures += scale_figures
            details[f"scale_{scale:g}"] = scale_details
        return figures, details


def measure_scale(mesh: Mesh, copy: Mesh, work_dir: Path, scale: float, repeat: int
                  ) -> tuple[list[Figure], dict]:
    data_dir = mesh.data_dir(scale)
    generate.generate(data_dir, scale=scale, log=lambda *_: None)
    dbt_db = work_dir / "dbt" / "mesh.duckdb"
    direct_db = work_dir / "direct" / "mesh.duckdb"  # same file name: same catalog name
    for folder in (dbt_db.parent, direct_db.parent):
        folder.mkdir(parents=True, exist_ok=True)
    env = dbt_env(dbt_db, data_dir)
    run_dbt(copy.root, ["deps"], env)
    remove_db(dbt_db)
    run_dbt(copy.root, ["compile"], env)  # empty database: the full-build SQL
    plan = direct_plan(json.loads((copy.target_dir / "manifest.json").read_text()), copy)
    threads = int(os.environ.get("DUCKMESH_THREADS", "4"))
    settings = profile_settings(copy)

    dbt_walls, dbt_elapsed, direct_walls, dbt_cpu, direct_cpu = [], [], [], [], []
    for _ in range(repeat):
        remove_db(dbt_db)
        wall, cpu = run_dbt_cpu(copy.root, ["build", "--exclude-resource-type", "unit_test"],
                                env)
        dbt_walls.append(wall)
        dbt_cpu.append(cpu)
        results = json.loads((copy.target_dir / "run_results.json").read_text())
        dbt_elapsed.append(results["elapsed_time"])
        remove_db(direct_db)
        cpu_before = cpu_seconds()
        direct_walls.append(run_direct(direct_db, plan, threads, settings))
        direct_cpu.append(cpu_seconds() - cpu_before)
    tag = f"scale {scale:g}"
    dbt_s, direct_s, inside_s = median(dbt_walls), median(direct_walls), median(dbt_elapsed)
    target = "<= 1.3x" if scale >= 1 else ""
    figures = [
        Figure("engine", f"{tag}: dbt build (fresh process)", dbt_s, samples=dbt_walls),
        Figure("engine", f"{tag}: dbt build, inside dbt (run_results)", inside_s,
               samples=dbt_elapsed),
        Figure("engine", f"{tag}: same SQL direct in DuckDB", direct_s, samples=direct_walls),
        Figure("engine", f"{tag}: ratio dbt / direct", dbt_s / direct_s, unit="x",
               target=target, note="whole command incl. startup and parse"),
        Figure("engine", f"{tag}: ratio inside dbt / direct", inside_s / direct_s, unit="x",
               target=target, note="dbt's own elapsed time"),
        Figure("engine", f"{tag}: CPU ratio dbt / direct", median(dbt_cpu) / median(direct_cpu),
               unit="x", target=target,
               note=f"CPU s {median(dbt_cpu):.1f} vs {median(direct_cpu):.1f}; load-proof"),
    ]
    details = {"nodes": len(plan), "threads": threads, "settings": settings,
               "dbt_wall": dbt_walls, "dbt_elapsed": dbt_elapsed, "direct": direct_walls,
               "dbt_cpu": dbt_cpu, "direct_cpu": direct_cpu}
    return figures, details


def profile_settings(mesh: Mesh) -> dict[str, str]:
    """The DuckDB settings of the dev profile (memory_limit etc.), env vars resolved."""
    profiles = yaml.safe_load((mesh.profiles_dir / "profiles.yml").read_text())
    settings = profiles["duckmesh"]["outputs"]["dev"].get("settings", {})
    resolved = {}
    for key, value in settings.items():
        text = str(value)
        if "env_var(" in text:
            inner = text.split("env_var(", 1)[1].split(")", 1)[0]
            parts = [p.strip().strip("'\"") for p in inner.split(",")]
            text = os.environ.get(parts[0], parts[1] if len(parts) > 1 else "")
        resolved[key] = str(text).lower() if isinstance(value, bool) else text
    return resolved


def direct_plan(manifest: dict, mesh: Mesh) -> list[DirectNode]:
    """Seeds, models and data tests with their compiled SQL, in dbt's dependency graph."""
    nodes = {uid: n for uid, n in manifest["nodes"].items()
             if n["resource_type"] in RESOURCE_TYPES and n["config"].get("enabled", True)}
    plan = []
    for uid, node in nodes.items():
        kind = node["resource_type"]
        deps = tuple(d for d in node.get("depends_on", {}).get("nodes", []) if d in nodes)
        if kind == "seed":
            plan.append(DirectNode(uid, "seed", node["schema"], node["alias"],
                                   _seed_sql(node, mesh), deps))
            continue
        sql = node.get("compiled_code")
        if not sql:
            continue
        if kind == "test":
            plan.append(DirectNode(uid, "test", node["schema"], node["alias"], sql, deps))
            continue
        materialized = node["config"]["materialized"]
        latest = None
        if node.get("version") is not None and node.get("version") == node.get("latest_version"):
            latest = node["name"]
        home = node["database"] if node.get("database") == builddb.PRODUCTS else ""
        plan.append(DirectNode(uid, "view" if materialized == "view" else "table",
                               node["schema"], node["alias"], sql, deps, latest, home))
    return plan


def _seed_sql(node: dict, mesh: Mesh) -> str:
    package_root = Path(node["root_path"]) if node.get("root_path") else mesh.root
    path = package_root / node["original_file_path"]
    if not path.exists():
        path = mesh.root / "dbt_packages" / node["package_name"] / node["original_file_path"]
    types = node["config"].get("column_types") or {}
    columns = ""
    if types:
        header = path.read_text().splitlines()[0].split(",")
        spec = ", ".join(f"'{c}': '{types.get(c, 'varchar')}'" for c in header)
        columns = f", columns = {{{spec}}}"
    return f"select * from read_csv('{path.as_posix()}', header = true{columns})"


def run_direct(db: Path, plan: list[DirectNode], threads: int, settings: dict[str, str]
               ) -> float:
    """Run the plan on a fresh database file: up to `threads` nodes at once, each as soon
    as everything it depends on is done. Returns wall-clock seconds (connect included)."""
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    for key, value in settings.items():
        con.execute(f"set {key} = '{value}'")
    if any(node.database for node in plan):  # the products file, as the profile attaches it
        con.execute(f"attach '{builddb.products_path(db)}' as {builddb.PRODUCTS}")
    for home in sorted({node.home for node in plan}):
        con.execute(f"create schema if not exists {home}")
    by_id = {node.unique_id: node for node in plan}
    waiting = {uid: set(node.depends_on) for uid, node in by_id.items()}
    done: set[str] = set()
    running: dict[Future, str] = {}

    def execute(node: DirectNode) -> None:
        cursor = con.cursor()
        try:
            for statement in node.statements():
                cursor.execute(statement).fetchall()
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        while waiting or running:
            ready = [uid for uid, deps in waiting.items() if deps <= done]
            for uid in ready:
                del waiting[uid]
                running[pool.submit(execute, by_id[uid])] = uid
            if not running:
                raise RuntimeError(f"dependency cycle or missing node: {sorted(waiting)[:5]}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                done.add(running.pop(future))
    con.close()
    return time.perf_counter() - started
