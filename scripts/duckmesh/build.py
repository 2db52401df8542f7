"""`duckmesh build`: source data, dbt deps, dbt build of the whole mesh, product summary."""

from __future__ import annotations

import argparse
import importlib
import time
from dataclasses import dataclass
from pathlib import Path

from . import build_state, dbt, generate
from .products import format_table, public_products, row_counts
from .project import Mesh, MeshError, find_mesh

# Platform steps run after every `dbt build`, in order, as "module:function"; each
# is called as function(BuildContext) and may print a line or two. They run after a
# failed build too (ctx.success is False), so history records what was run.
AFTER_BUILD: list[str] = [
    "duckmesh.catalog:after_build",
    "duckmesh.publish:after_build",
    "duckmesh.observability.pipeline:after_build",
]

# Platform steps run before `dbt build`, as "module:function"; each is called as
# function(mesh, data_dir, env) and returns environment overrides for dbt (or None).
# A MeshError from one stops the build before dbt runs.
BEFORE_BUILD: list[str] = [
    "duckmesh.quarantine:validate_sources",
    "duckmesh.access:check_before_build",
]


@dataclass(frozen=True)
class BuildContext:
    mesh: Mesh
    data_dir: Path
    scale: float
    success: bool
    build_seconds: float
    env: dict[str, str]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build", help="generate source data and dbt build the whole mesh",
        description="Generate (or reuse) the source data at --scale, install the domains "
                    "(dbt deps), dbt build every domain and the consumer project into the "
                    "DuckDB file (DUCKMESH_DB, default mesh.duckdb), then print the products.")
    parser.add_argument("--scale", type=float, default=0.1,
                        help="data size; 1 = 100k customers, 1M orders (default 0.1)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--select", default=None, help="dbt selector (default: everything)")
    parser.add_argument("--full-refresh", action="store_true", help="rebuild incremental models")
    parser.add_argument("--changed-only", action="store_true",
                        help="build only what changed since the last successful build "
                             "(state:modified+); everything when the source data changed")
    parser.add_argument("--domain", default=None,
                        help="build one domain's own nodes only, reading upstream domains' "
                             "products from the last publish (README \"Domains\")")
    parser.set_defaults(func=run)


def prepare(mesh: Mesh, scale: float, seed: int,
            changed_only: bool = False) -> tuple[Path, dict[str, str], dict[str, dict[str, str]]]:
    """Steps 1-2 of every build, whatever the engine: the source data at ``scale``, the
    domains installed (dbt deps) and the BEFORE_BUILD checks. Returns the data folder,
    the environment for dbt and the data steps' overrides (for build_state)."""
    data_dir = mesh.data_dir(scale)
    print(f"[1/4] source data -> {dbt.relative(data_dir, mesh.root)}", flush=True)
    result = generate.generate(data_dir, scale=scale, seed=seed)
    print(f"      {generate.describe(result)}", flush=True)

    env = mesh.env(data_dir)
    if changed_only and build_state.deps_current(mesh):
        print("[2/4] dbt deps: domains installed, packages.yml unchanged (skipped)", flush=True)
    else:
        print("[2/4] dbt deps (install the domains)", flush=True)
        from .domains import deps_args

        args = deps_args(mesh.root, mesh.domain_dirs(), env)
        dbt.require_success(dbt.run_dbt(mesh, args, env, quiet=True), "deps")

    # --changed-only on unchanged source data: the data checks' outcome is the last one
    reused = build_state.data_step_overrides(mesh, data_dir) if changed_only else None
    data_env: dict[str, dict[str, str]] = dict(reused or {})
    for spec in BEFORE_BUILD:
        if reused is not None and spec in build_state.DATA_STEPS:
            print(f"      {spec}: source data unchanged since the last build, skipped",
                  flush=True)
            env.update(reused.get(spec, {}))
            continue
        module_name, function_name = spec.split(":")
        step = getattr(importlib.import_module(module_name), function_name)
        overrides = step(mesh, data_dir, dict(env)) or {}
        if spec in build_state.DATA_STEPS:
            data_env[spec] = overrides
        env.update(overrides)
    return data_dir, env, data_env


def run(args: argparse.Namespace) -> int:
    if args.domain:
        from . import domains

        return domains.run_build(args)
    mesh = find_mesh(args.project_dir)
    started = time.perf_counter()
    data_dir, env, data_env = prepare(mesh, args.scale, args.seed, args.changed_only)
    print(f"[3/4] dbt build -> {dbt.relative(mesh.db_path, mesh.root)}", flush=True)
    build_args = ["build"]
    if args.select:
        build_args += ["--select", args.select]
    if args.full_refresh:
        build_args.append("--full-refresh")
    elif build_state.switched_data_set(mesh, data_dir):
        print("      another data set than the last build (scale, seed or DUCKMESH_DATA): "
              "--full-refresh, so incremental products are rebuilt", flush=True)
        build_args.append("--full-refresh")
    if args.changed_only and not args.select:
        selection, reason = build_state.selection(mesh, data_dir)
        print(f"      --changed-only: {reason}", flush=True)
        build_args += selection
    build_started = time.perf_counter()
    outcome = dbt.run_dbt(mesh, build_args, env)
    build_seconds = time.perf_counter() - build_started
    if outcome.success and not args.select:
        build_state.save(mesh, data_dir, data_env)
    if args.changed_only and outcome.success and build_state.nothing_ran(mesh):
        print(f"\nnothing changed since the last build ({build_seconds:.1f}s): "
              f"{mesh.db_path} is up to date")
        return 0
    context = BuildContext(mesh, data_dir, args.scale, bool(outcome.success), build_seconds, env)
    step_errors = run_after_build(context)
    dbt.require_success(outcome, "build")
    if step_errors:
        raise MeshError("; ".join(step_errors))

    print("[4/4] data products", flush=True)
    print(summary(mesh), flush=True)
    total = time.perf_counter() - started
    print(f"\nmesh built in {total:.1f}s (dbt build {build_seconds:.1f}s) "
          f"at scale {args.scale:g}: {mesh.db_path}")
    return 0


def run_after_build(context: BuildContext) -> list[str]:
    """Run the platform's after-build steps; return the errors they raised."""
    errors = []
    for spec in AFTER_BUILD:
        module_name, function_name = spec.split(":")
        step = getattr(importlib.import_module(module_name), function_name)
        try:
            step(context)
        except MeshError as error:
            errors.append(f"{spec}: {error}")
    return errors


def summary(mesh: Mesh) -> str:
    products = public_products(dbt.load_manifest(mesh))
    counts = row_counts(mesh.db_path, products)
    rows = []
    for product in products:
        count = counts[product.relation]
        notes = []
        if product.is_latest:
            notes.append(f"latest -> {product.schema}.{product.name}")
        if product.deprecation_date:
            notes.append(f"deprecated {product.deprecation_date[:10]}")
        rows.append([product.domain, product.name, f"v{product.version}",
                     "missing" if count is None else f"{count:,}", product.relation,
                     ", ".join(notes)])
    return format_table(["domain", "product", "version", "rows", "relation", "notes"], rows)
