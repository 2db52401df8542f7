"""`duckmesh bench`: performance and scale benchmarks (scripts that print figures).

Subcommands:
  synthetic   write a synthetic mesh (N models over D domains) to a folder
  engine      full mesh build vs. the same compiled SQL run directly in DuckDB
  platform    governance / catalog / observability / publish as shares of the build
  scale       parse / governance / catalog times of synthetic meshes of growing size
  noop        a second build with no changes (state:modified selection)
  consumer    typical consumer queries on the published vs. the build database
  scale-out   the same dbt build on DuckDB and on local Spark, and the products compared
  domain      one domain built alone (upstream from the publish) against the whole mesh
  all         every benchmark above; one table, JSON in target/bench/

Figures are wall-clock medians; they depend on the machine (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from .project import MeshError

# name -> (module, help); each module has add_arguments(parser) and run(args) -> int
BENCHMARKS: dict[str, tuple[str, str]] = {
    "engine": ("bench_engine", "dbt build vs. the same SQL run directly in DuckDB"),
    "platform": ("bench_platform", "platform steps as a share of the build"),
    "scale": ("bench_scale", "parse/governance/catalog times of synthetic meshes"),
    "noop": ("bench_noop", "no-op rebuild with state:modified selection"),
    "consumer": ("bench_consumer", "consumer query latency, published vs. build database"),
    "scale-out": ("bench_scaleout", "the same dbt build on DuckDB and on a local Spark"),
    "domain": ("bench_domain", "one domain built alone against the whole mesh; parse"),
    "all": ("bench_all", "every benchmark; one table and target/bench/*.json"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="performance and scale benchmarks",
        description="Benchmarks that print a table and write JSON to target/bench/. "
                    "Not tests: figures depend on the machine.")
    commands = parser.add_subparsers(dest="bench_command", metavar="BENCHMARK")

    synthetic = commands.add_parser(
        "synthetic", help="write a synthetic mesh of N models",
        description="Write a complete synthetic mesh (root project + domains as local "
                    "packages, stg -> int -> products, cross-domain refs) to --out.")
    synthetic.add_argument("--models", type=int, required=True, help="models in total")
    synthetic.add_argument("--domains", type=int, default=10, help="domains (default 10)")
    synthetic.add_argument("--out", type=Path, required=True, help="output folder (replaced)")
    synthetic.set_defaults(func=run_synthetic)

    for name, (module_name, help_text) in BENCHMARKS.items():
        try:
            module = importlib.import_module(f"duckmesh.{module_name}")
        except ModuleNotFoundError as error:
            if error.name != f"duckmesh.{module_name}":
                raise
            continue
        sub = commands.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(func=module.run)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def run_synthetic(args: argparse.Namespace) -> int:
    from . import synthetic

    try:
        dest = synthetic.write_synthetic_mesh(args.out, args.models, args.domains)
    except ValueError as error:
        raise MeshError(str(error)) from error
    mesh = synthetic.describe(dest)
    print(f"synthetic mesh: {mesh.model_count} models in {len(mesh.domains)} domains "
          f"-> {dest}")
    print(f"build it: cd {dest} && DUCKMESH_DB=$PWD/mesh.duckdb dbt deps --profiles-dir "
          "profiles && DUCKMESH_DB=$PWD/mesh.duckdb dbt build --profiles-dir profiles")
    return 0
